import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type {
  AuthenticatedEvent,
  DisconnectedEvent,
  ErrorEvent,
  QrCodeEvent,
  StatusEvent,
} from '../../server/protocol'
import { SessionManager } from '../../server/sessions/session-manager'
import {
  collect,
  decodeQrDataUrl,
  nextEvent,
  sleep,
  startTestHub,
  TRANSPORTS,
  type TestHub,
} from '../helpers/hub'

// The whole protocol, once per transport: Python, Java and Swift clients start on polling.
describe.each(TRANSPORTS)('over %s', (transport) => {
  let t: TestHub
  beforeEach(async () => {
    t = await startTestHub()
  })
  afterEach(async () => {
    await t.close(true)
  })
  const connect = (options: Parameters<TestHub['connect']>[0] = {}) =>
    t.connect({ transports: [transport], ...options })

  const scan = (sessionId: string, qrData: string, body: object = {}) =>
    t.fetch(`/api/sessions/${sessionId}/simulate-scan`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ qr_data: qrData, ...body }),
    })

  describe('connection', () => {
    it('sends client_id, version and provider in `connected`', async () => {
      const { io } = await import('socket.io-client')
      const socket = io(t.info.url, {
        auth: { token: t.info.token },
        transports: [transport],
        forceNew: true,
      })
      const greeting = await nextEvent(socket, 'connected')
      expect(greeting).toMatchObject({
        type: 'connected',
        client_id: socket.id,
        server_version: expect.stringMatching(/^\d+\.\d+\.\d+/),
        provider: 'simulated',
      })
      socket.close()
    })
  })

  describe('get_qr', () => {
    it('creates a session, emits a decodable qr_code and acks', async () => {
      const socket = await connect()
      const qr = nextEvent<QrCodeEvent>(socket, 'qr_code')
      const ack = await socket.emitWithAck('get_qr', { session_id: 'alpha' })
      expect(ack).toEqual({ ok: true, session_id: 'alpha', status: 'qr_ready' })
      const event = await qr
      expect(event).toMatchObject({
        type: 'qr_code',
        session_id: 'alpha',
        attempt: 1,
        attempts_max: 6,
        message: expect.any(String),
      })
      expect(event.qr_data.split(',')).toHaveLength(4)
      const [ref, noise, identity, adv] = event.qr_data.split(',')
      expect(ref).toMatch(/^2@/)
      for (const key of [noise, identity, adv]) expect(Buffer.from(key!, 'base64')).toHaveLength(32)
      expect(decodeQrDataUrl(event.qr_image)).toBe(event.qr_data)
      const ttl = Date.parse(event.expires_at) - Date.parse(event.issued_at)
      expect(ttl).toBe(60_000)
    })

    it('makes up a UUID session id when none is given', async () => {
      const socket = await connect()
      const ack = await socket.emitWithAck('get_qr', {})
      expect(ack.session_id).toMatch(/^[0-9a-f-]{36}$/)
      const bare = await socket.emitWithAck('get_qr')
      expect(bare.ok).toBe(true)
      expect(bare.session_id).not.toBe(ack.session_id)
    })

    it('gives a second client the same QR, rendered once', async () => {
      const first = await connect()
      const second = await connect()
      const firstQr = nextEvent<QrCodeEvent>(first, 'qr_code')
      await first.emitWithAck('get_qr', { session_id: 'shared' })
      const secondQr = nextEvent<QrCodeEvent>(second, 'qr_code')
      await second.emitWithAck('get_qr', { session_id: 'shared' })
      expect((await secondQr).qr_data).toBe((await firstQr).qr_data)
      const metrics = await (await t.fetch('/metrics')).text()
      expect(metrics).toMatch(/^wa_link_hub_qr_renders_total 1$/m)
    })

    it('emits pairing_code when a phone number is given', async () => {
      const socket = await connect()
      const pairing = nextEvent(socket, 'pairing_code')
      await socket.emitWithAck('get_qr', { session_id: 'by-phone', phone_number: '+34600111222' })
      expect(await pairing).toMatchObject({
        type: 'pairing_code',
        session_id: 'by-phone',
        code: expect.stringMatching(/^[A-Z0-9]{8}$/),
        expires_at: expect.any(String),
      })
    })

    it('answers `authenticated` for a linked session instead of a QR', async () => {
      const socket = await connect()
      const qr = nextEvent<QrCodeEvent>(socket, 'qr_code')
      await socket.emitWithAck('get_qr', { session_id: 'linked' })
      expect((await scan('linked', (await qr).qr_data)).status).toBe(200)
      const other = await connect()
      const auth = nextEvent<AuthenticatedEvent>(other, 'authenticated')
      const qrs = collect(other, 'qr_code')
      const ack = await other.emitWithAck('get_qr', { session_id: 'linked' })
      expect(ack).toMatchObject({ ok: true, status: 'authenticated' })
      expect((await auth).session_id).toBe('linked')
      expect(qrs).toHaveLength(0)
    })
  })

  describe('linking by simulated scan', () => {
    it('tells every client in the room: authenticated, then disconnected on logout', async () => {
      const a = await connect()
      const b = await connect()
      const qr = nextEvent<QrCodeEvent>(a, 'qr_code')
      await a.emitWithAck('get_qr', { session_id: 'room' })
      await b.emitWithAck('subscribe', { session_id: 'room' })

      const authA = nextEvent<AuthenticatedEvent>(a, 'authenticated')
      const authB = nextEvent<AuthenticatedEvent>(b, 'authenticated')
      const res = await scan('room', (await qr).qr_data, { name: 'Ana', phone: '+34600000001' })
      expect(await res.json()).toEqual({ ok: true })
      for (const event of [await authA, await authB]) {
        expect(event).toMatchObject({
          type: 'authenticated',
          session_id: 'room',
          user: { id: '34600000001@s.whatsapp.net', name: 'Ana' },
        })
      }

      const status = nextEvent<StatusEvent>(a, 'status')
      await a.emitWithAck('get_status', { session_id: 'room' })
      expect(await status).toMatchObject({
        status: 'authenticated',
        authenticated: true,
        reconnecting: false,
      })

      const goneA = nextEvent<DisconnectedEvent>(a, 'disconnected')
      const goneB = nextEvent<DisconnectedEvent>(b, 'disconnected')
      const ack = await b.emitWithAck('disconnect_whatsapp', { session_id: 'room' })
      expect(ack).toMatchObject({ ok: true, status: 'disconnected', reason: 'logout' })
      for (const event of [await goneA, await goneB]) {
        expect(event).toMatchObject({ type: 'disconnected', session_id: 'room', reason: 'logout' })
      }
    })

    it('starts a new link with get_qr on a disconnected session', async () => {
      const socket = await connect()
      const first = nextEvent<QrCodeEvent>(socket, 'qr_code')
      await socket.emitWithAck('get_qr', { session_id: 'again' })
      const firstQr = await first
      await socket.emitWithAck('disconnect_whatsapp', { session_id: 'again' })
      const second = nextEvent<QrCodeEvent>(socket, 'qr_code')
      const ack = await socket.emitWithAck('get_qr', { session_id: 'again' })
      expect(ack.status).toBe('qr_ready')
      const secondQr = await second
      expect(secondQr.qr_data).not.toBe(firstQr.qr_data)
      expect(secondQr.attempt).toBe(1)
    })
  })

  describe('other events', () => {
    it('subscribe joins without starting anything; unknown sessions are refused', async () => {
      const socket = await connect()
      const error = nextEvent<ErrorEvent>(socket, 'error')
      const ack = await socket.emitWithAck('subscribe', { session_id: 'nobody' })
      expect(ack).toEqual({
        ok: false,
        error: { code: 'unknown_session', message: expect.any(String) },
      })
      expect(await error).toMatchObject({
        code: 'unknown_session',
        event: 'subscribe',
        session_id: 'nobody',
      })
    })

    it('subscribe replays the live QR to a late subscriber without issuing a new one', async () => {
      const first = await connect()
      const qr = nextEvent<QrCodeEvent>(first, 'qr_code')
      await first.emitWithAck('get_qr', { session_id: 'late' })
      const late = await connect()
      const status = nextEvent<StatusEvent>(late, 'status')
      const replayed = nextEvent<QrCodeEvent>(late, 'qr_code')
      expect(await late.emitWithAck('subscribe', { session_id: 'late' })).toMatchObject({
        ok: true,
        status: 'qr_ready',
      })
      expect((await status).status).toBe('qr_ready')
      expect((await replayed).qr_data).toBe((await qr).qr_data)
      const metrics = await (await t.fetch('/metrics')).text()
      expect(metrics).toMatch(/^wa_link_hub_qr_renders_total 1$/m)
    })

    it('list_sessions acks every session status', async () => {
      const socket = await connect()
      await socket.emitWithAck('get_qr', { session_id: 's1' })
      await socket.emitWithAck('get_qr', { session_id: 's2' })
      const ack = await socket.emitWithAck('list_sessions', {})
      expect(ack.ok).toBe(true)
      expect(ack.sessions.map((s: StatusEvent) => s.session_id).sort()).toEqual(['s1', 's2'])
      expect(ack.sessions[0]).toMatchObject({
        type: 'status',
        status: 'qr_ready',
        authenticated: false,
      })
    })

    it('send_message needs a linked session, then acks a message id', async () => {
      const socket = await connect()
      const qr = nextEvent<QrCodeEvent>(socket, 'qr_code')
      await socket.emitWithAck('get_qr', { session_id: 'sender' })
      const refused = await socket.emitWithAck('send_message', {
        session_id: 'sender',
        to: '34600000002',
        text: 'hola',
      })
      expect(refused).toMatchObject({ ok: false, error: { code: 'not_authenticated' } })
      await scan('sender', (await qr).qr_data)
      const sent = await socket.emitWithAck('send_message', {
        session_id: 'sender',
        to: '34600000002',
        text: 'hola',
      })
      expect(sent).toMatchObject({ ok: true, message_id: expect.any(String) })
    })

    it('delivers simulated incoming messages to the room', async () => {
      const socket = await connect()
      const qr = nextEvent<QrCodeEvent>(socket, 'qr_code')
      await socket.emitWithAck('get_qr', { session_id: 'inbox' })
      await scan('inbox', (await qr).qr_data)
      const message = nextEvent(socket, 'message')
      const res = await t.fetch('/api/sessions/inbox/simulate-message', {
        method: 'POST',
        body: JSON.stringify({ from: '34600000003', text: 'hello there' }),
      })
      expect(res.status).toBe(200)
      expect(await message).toMatchObject({
        type: 'message',
        session_id: 'inbox',
        from: '34600000003@s.whatsapp.net',
        text: 'hello there',
        kind: 'text',
        timestamp: expect.any(String),
      })
    })
  })

  describe('bad input', () => {
    it.each([
      ['get_qr', null],
      ['get_qr', [1, 2]],
      ['get_qr', 'text'],
      ['get_qr', 42],
      ['get_qr', { session_id: 'bad id with spaces' }],
      ['get_qr', { session_id: 'x'.repeat(65) }],
      ['get_qr', { session_id: 7 }],
      ['get_qr', { phone_number: '12' }],
      ['get_status', {}],
      ['get_status', { session_id: '' }],
      ['disconnect_whatsapp', { session_id: null }],
      ['subscribe', { session_id: ['a'] }],
      ['list_sessions', null],
      ['send_message', { session_id: 'a', to: 'not a number', text: 'x' }],
      ['send_message', { session_id: 'a', to: '34600000000', text: '' }],
    ])('%s %j gets invalid_payload and the connection stays usable', async (event, payload) => {
      const socket = await connect()
      const error = nextEvent<ErrorEvent>(socket, 'error')
      const ack = await socket.emitWithAck(event, payload)
      expect(ack).toMatchObject({
        ok: false,
        error: { code: 'invalid_payload', message: expect.any(String) },
      })
      expect(await error).toMatchObject({ type: 'error', code: 'invalid_payload', event })
      expect(await socket.emitWithAck('list_sessions', {})).toMatchObject({ ok: true })
    })

    it('reports unknown events and unknown sessions', async () => {
      const socket = await connect()
      const unknown = nextEvent<ErrorEvent>(socket, 'error')
      socket.emit('make_coffee', {})
      expect(await unknown).toMatchObject({ code: 'invalid_payload' })
      for (const event of ['get_status', 'disconnect_whatsapp', 'subscribe']) {
        const ack = await socket.emitWithAck(event, { session_id: 'missing' })
        expect(ack).toMatchObject({ ok: false, error: { code: 'unknown_session' } })
      }
      expect(
        await socket.emitWithAck('send_message', {
          session_id: 'missing',
          to: '34600000000',
          text: 'x',
        }),
      ).toMatchObject({ ok: false, error: { code: 'unknown_session' } })
    })

    it('answers an unexpected failure with `internal`, over Socket.IO and HTTP, and keeps serving', async () => {
      const socket = await connect()
      await socket.emitWithAck('get_qr', { session_id: 'kept' })
      const bug = vi.spyOn(SessionManager.prototype, 'list').mockImplementation(() => {
        throw new TypeError("Cannot read properties of undefined (reading 'status')")
      })
      try {
        const error = nextEvent<ErrorEvent>(socket, 'error')
        expect(await socket.emitWithAck('list_sessions', {})).toMatchObject({
          ok: false,
          error: { code: 'internal', message: 'Internal error; the hub keeps running' },
        })
        expect(await error).toMatchObject({ code: 'internal', event: 'list_sessions' })
        const res = await t.fetch('/api/sessions')
        expect(res.status).toBe(500)
        expect(await res.json()).toEqual({
          code: 'internal',
          message: 'Internal error; the hub keeps running',
        })
      } finally {
        bug.mockRestore()
      }
      expect(socket.connected).toBe(true)
      expect(await socket.emitWithAck('list_sessions', {})).toMatchObject({
        ok: true,
        sessions: [expect.objectContaining({ session_id: 'kept' })],
      })
      expect((await t.fetch('/api/sessions')).status).toBe(200)
    })

    it('works without an ack callback: errors still arrive as events', async () => {
      const socket = await connect()
      const error = nextEvent<ErrorEvent>(socket, 'error')
      socket.emit('get_status', { session_id: 'missing' })
      expect(await error).toMatchObject({ code: 'unknown_session', session_id: 'missing' })
    })

    it('refuses a 2 MB payload without harming other clients', async () => {
      const victim = await connect()
      const bystander = await connect()
      const dropped = new Promise((resolve) => victim.once('disconnect', resolve))
      victim.emit('get_qr', { session_id: 'big', padding: 'x'.repeat(2 * 1024 * 1024) })
      expect(await dropped).toBeDefined()
      const qr = nextEvent<QrCodeEvent>(bystander, 'qr_code')
      expect(await bystander.emitWithAck('get_qr', { session_id: 'fine' })).toMatchObject({
        ok: true,
      })
      expect((await qr).session_id).toBe('fine')
      expect(await bystander.emitWithAck('list_sessions', {})).toMatchObject({
        ok: true,
        sessions: [expect.objectContaining({ session_id: 'fine' })],
      })
    })

    it('rate-limits a burst of 200 events and keeps answering', async () => {
      const socket = await connect()
      const errors = collect<ErrorEvent>(socket, 'error')
      const acks = await Promise.all(
        Array.from({ length: 200 }, () => socket.emitWithAck('list_sessions', {})),
      )
      const limited = acks.filter((ack) => !ack.ok)
      expect(limited.length).toBeGreaterThan(100)
      expect(limited[0]).toMatchObject({ ok: false, error: { code: 'rate_limited' } })
      expect(acks.filter((ack) => ack.ok).length).toBeGreaterThanOrEqual(40)
      expect(errors.some((error) => error.code === 'rate_limited')).toBe(true)
      expect(socket.connected).toBe(true)
      await sleep(300) // the bucket refills at 20/s
      expect(await socket.emitWithAck('list_sessions', {})).toMatchObject({ ok: true })
    })
  })

  describe('access token', () => {
    it('refuses a connection without a token or with a wrong one', async () => {
      await expect(connect({ token: null })).rejects.toThrow('unauthorized')
      await expect(connect({ token: 'wrong-token-wrong-token' })).rejects.toThrow('unauthorized')
    })

    it('accepts the token in the query string as well', async () => {
      const socket = await connect({ query: true })
      expect(socket.connected).toBe(true)
    })
  })
})
