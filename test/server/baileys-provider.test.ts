import { Boom } from '@hapi/boom'
import { DisconnectReason } from '@whiskeysockets/baileys'
import { afterEach, describe, expect, it } from 'vitest'
import type { LogEntry } from '../../server/logger'
import type {
  AuthenticatedEvent,
  DisconnectedEvent,
  MessageEvent,
  QrCodeEvent,
  StatusEvent,
  TimelineAck,
} from '../../server/protocol'
import { bridgeLogger, createBaileysProvider, reconnectDelay } from '../../server/providers/baileys'
import { isLinked, readLinkedCreds } from '../../server/providers/baileys-auth-store'
import {
  directProvider,
  fakeBaileys,
  linkPhone,
  scanPhone,
  startBaileysHub,
  STUB_VERSIONS,
  textMessage,
  type FakeWASocket,
} from '../helpers/fake-baileys'
import {
  collect,
  decodeQrDataUrl,
  freePort,
  nextEvent,
  sleep,
  startTestHub,
  type TestHub,
} from '../helpers/hub'
import { loadConfig } from '../../server/config'
import { silentLogger } from '../../server/logger'
import { MemoryNamespace, recordingSink } from '../helpers/memory-store'
import { credentialsOf, filesShowing, storedSessionIds } from '../helpers/store'
import { until } from '../main/launch'
import { recordingLogger } from '../helpers/logger'

const hubs: TestHub[] = []
afterEach(async () => {
  for (const hub of hubs.splice(0)) await hub.close(true)
})

/** A real hub whose Baileys provider talks to fake sockets. */
async function baileysHub(env: Record<string, string> = {}, dataDir?: string) {
  const fake = fakeBaileys()
  const hub = await startTestHub(
    { WA_PROVIDER: 'baileys', ...env },
    {
      dataDir,
      providerFactory: (context) =>
        createBaileysProvider(context, {
          makeSocket: fake.makeSocket,
          versionLookups: STUB_VERSIONS,
          backoff: { initialMs: 20, maxMs: 160, stableMs: 150 },
          random: () => 1,
        }),
    },
  )
  hubs.push(hub)
  const logs: LogEntry[] = []
  hub.hub.events.on('log', (entry) => logs.push(entry))
  return { t: hub, fake, logs }
}

/** Links session `id` the way a real phone does: QR, scan, 515, reopen. */
async function link(t: TestHub, fake: ReturnType<typeof fakeBaileys>, id: string) {
  const socket = await t.connect()
  const auth = nextEvent<AuthenticatedEvent>(socket, 'authenticated')
  await socket.emitWithAck('get_qr', { session_id: id })
  await until(() => fake.sockets.length > 0)
  const first = fake.last()
  first.pairDevice()
  first.scanned()
  await until(() => fake.last() !== first)
  fake.last().open()
  await auth
  return { socket, phone: fake.last() }
}

describe('linking with Baileys', () => {
  it('maps QRs to qr_code with counted attempts, and renders each one', async () => {
    const { t, fake } = await baileysHub()
    const socket = await t.connect()
    const qrs = collect<QrCodeEvent>(socket, 'qr_code')
    await socket.emitWithAck('get_qr', { session_id: 'qr' })
    await until(() => fake.sockets.length === 1)
    fake.last().pairDevice()
    await until(() => qrs.length === 1)
    fake.last().nextQr()
    await until(() => qrs.length === 2)
    expect(qrs.map((qr) => [qr.attempt, qr.attempts_max])).toEqual([
      [1, 6],
      [2, 6],
    ])
    expect(decodeQrDataUrl(qrs[1]!.qr_image)).toBe(fake.last().qrs[1])
    expect(Date.parse(qrs[0]!.expires_at) - Date.parse(qrs[0]!.issued_at)).toBe(60_000)
    expect(Date.parse(qrs[1]!.expires_at) - Date.parse(qrs[1]!.issued_at)).toBe(20_000)
  })

  it('QR → scan → 515 → reopen → authenticated, with no disconnect or status flicker', async () => {
    const { t, fake } = await baileysHub()
    const socket = await t.connect()
    const statuses = collect<StatusEvent>(socket, 'status')
    const disconnects = collect(socket, 'disconnected')
    const { phone } = await link(t, fake, 'scan')
    expect(fake.sockets).toHaveLength(2)
    // the new socket reuses the credentials the scan produced
    expect(isLinked(phone.config.auth.creds)).toBe(true)
    const status = await socket.emitWithAck('get_status', { session_id: 'scan' })
    expect(status).toMatchObject({
      status: 'authenticated',
      reconnecting: false,
      user: { id: '34600111222@s.whatsapp.net', name: 'Ana' },
    })
    expect(disconnects).toEqual([])
    expect(statuses.map((s) => s.status)).not.toContain('disconnected')
  })

  it('stores the credentials sealed, nothing of them in plain text', async () => {
    const { t, fake } = await baileysHub()
    await link(t, fake, 'creds')
    const stored = await readLinkedCreds(await credentialsOf(t.dataDir, 'creds'))
    expect(stored?.me?.id).toBe('34600111222:7@s.whatsapp.net')
    expect(Buffer.isBuffer(stored?.noiseKey.private)).toBe(true)
    expect(await filesShowing(t.dataDir, 'noiseKey')).toEqual([])
    expect(await filesShowing(t.dataDir, '34600111222')).toEqual([])
  })

  it('announces a link only once its credentials are durable', async () => {
    const fake = fakeBaileys()
    const provider = createBaileysProvider(
      { config: loadConfig({ WA_PROVIDER: 'baileys' }), logger: silentLogger },
      { makeSocket: fake.makeSocket, versionLookups: STUB_VERSIONS },
    )
    const store = new MemoryNamespace()
    const linkedAtAnnounce: boolean[] = []
    const sink = recordingSink({
      authenticated: async () => {
        const creds = await readLinkedCreds(store)
        linkedAtAnnounce.push(creds !== undefined)
      },
    })
    await provider.link({ id: 'durable', store, sink }, {})
    await until(() => fake.sockets.length === 1)
    fake.last().pairDevice()
    fake.last().scanned()
    await until(() => fake.sockets.length === 2)
    store.hold() // the disk is slow from here on
    fake.last().open()
    await sleep(50)
    expect(linkedAtAnnounce).toEqual([]) // nothing announced while the creds are not on disk
    store.release()
    await until(() => linkedAtAnnounce.length === 1)
    expect(linkedAtAnnounce).toEqual([true])
    await provider.shutdown()
  })

  it('resumes a linked phone after a hub restart, without a QR', async () => {
    const first = await baileysHub()
    await link(first.t, first.fake, 'resume')
    await first.t.close()
    hubs.splice(hubs.indexOf(first.t), 1)

    const { t, fake } = await baileysHub({}, first.t.dataDir)
    expect(fake.sockets).toHaveLength(1)
    expect(isLinked(fake.last().config.auth.creds)).toBe(true)
    const socket = await t.connect()
    const qrs = collect(socket, 'qr_code')
    expect(await socket.emitWithAck('get_status', { session_id: 'resume' })).toMatchObject({
      status: 'authenticated',
      reconnecting: true,
    })
    const recovered = nextEvent<StatusEvent>(socket, 'status', (s) => !s.reconnecting)
    await socket.emitWithAck('subscribe', { session_id: 'resume' })
    fake.last().open()
    expect(await recovered).toMatchObject({ status: 'authenticated', reconnecting: false })
    expect(qrs).toEqual([])
  })

  it('gives a pairing code for a phone number, and checks the number first', async () => {
    const { t, fake } = await baileysHub()
    const socket = await t.connect()
    const bad = await socket.emitWithAck('get_qr', { session_id: 'pair', phone_number: '+34 600' })
    expect(bad).toMatchObject({ ok: false, error: { code: 'invalid_payload' } })
    expect(fake.sockets).toHaveLength(0)

    const pairing = nextEvent(socket, 'pairing_code')
    const qrs = collect(socket, 'qr_code')
    await socket.emitWithAck('get_qr', { session_id: 'pair', phone_number: '+34600111222' })
    await until(() => fake.sockets.length === 1)
    fake.last().pairDevice()
    expect(await pairing).toMatchObject({ session_id: 'pair', code: 'ABCD2345' })
    expect(qrs).toEqual([])
  })

  it('does not keep the creds a failed pairing request mutated', async () => {
    const { t, fake } = await baileysHub()
    const socket = await t.connect()
    const ended = nextEvent<DisconnectedEvent>(socket, 'disconnected')
    await socket.emitWithAck('get_qr', { session_id: 'pair-fail', phone_number: '34600111222' })
    await until(() => fake.sockets.length === 1)
    fake.last().pairingWorks = false
    fake.last().pairDevice()
    expect(await ended).toMatchObject({ reason: 'failed' })
    await sleep(50)
    expect(await storedSessionIds(t.dataDir)).not.toContain('pair-fail')
  })
})

describe('when the connection closes', () => {
  it.each([
    [DisconnectReason.connectionClosed, 'Connection Closed'],
    [DisconnectReason.connectionLost, 'Connection Lost'],
    [DisconnectReason.unavailableService, 'Service Unavailable'],
    [null, 'a plain Error without output'],
  ])('%s is a transient drop: reconnecting, then back', async (code, message) => {
    const { t, fake } = await baileysHub()
    const { socket, phone } = await link(t, fake, 'drop')
    const reconnecting = nextEvent<StatusEvent>(socket, 'status', (s) => s.reconnecting)
    const disconnects = collect(socket, 'disconnected')
    phone.drop(code, message)
    expect(await reconnecting).toMatchObject({ status: 'authenticated', reconnecting: true })
    await until(() => fake.last() !== phone)
    const back = nextEvent<StatusEvent>(socket, 'status', (s) => !s.reconnecting)
    fake.last().open()
    expect(await back).toMatchObject({ status: 'authenticated', reconnecting: false })
    expect(disconnects).toEqual([])
  })

  it.each([
    [DisconnectReason.loggedOut, 'logged_out_remote'],
    [DisconnectReason.connectionReplaced, 'replaced'],
    [DisconnectReason.badSession, 'failed'],
    [DisconnectReason.forbidden, 'failed'],
    [DisconnectReason.multideviceMismatch, 'failed'],
  ])('%s ends the link as %s, without reconnecting', async (code, reason) => {
    const { t, fake } = await baileysHub()
    const { socket, phone } = await link(t, fake, 'end')
    const ended = nextEvent<DisconnectedEvent>(socket, 'disconnected')
    phone.drop(code)
    expect(await ended).toMatchObject({ reason, code })
    await sleep(100)
    expect(fake.last()).toBe(phone)
    expect(await socket.emitWithAck('get_status', { session_id: 'end' })).toMatchObject({
      status: 'disconnected',
      reason,
    })
  })

  it('deletes the credentials when the phone logs the device out (401)', async () => {
    const { t, fake } = await baileysHub()
    const { socket, phone } = await link(t, fake, 'gone')
    expect(await storedSessionIds(t.dataDir)).toContain('gone')
    const ended = nextEvent(socket, 'disconnected')
    phone.drop(DisconnectReason.loggedOut)
    await ended
    // Deleted before the end was announced.
    expect(await storedSessionIds(t.dataDir)).not.toContain('gone')
  })

  it('ends with qr_timeout when WhatsApp runs out of QR refs', async () => {
    const { t, fake } = await baileysHub()
    const socket = await t.connect()
    const ended = nextEvent<DisconnectedEvent>(socket, 'disconnected')
    await socket.emitWithAck('get_qr', { session_id: 'timeout' })
    await until(() => fake.sockets.length === 1)
    fake.last().pairDevice()
    fake.last().drop(DisconnectReason.timedOut, 'QR refs attempts ended')
    expect(await ended).toMatchObject({ reason: 'qr_timeout' })
  })

  it('backs off exponentially, capped, and starts over after a stable connection', async () => {
    const { t, fake, logs } = await baileysHub()
    const { phone } = await link(t, fake, 'flaky')
    let current: FakeWASocket = phone
    for (let i = 0; i < 5; i++) {
      current.drop(DisconnectReason.connectionLost)
      await until(() => fake.last() !== current)
      current = fake.last()
    }
    const delays = () =>
      logs
        .filter((e) => e.message === 'WhatsApp connection lost; reconnecting')
        .map((e) => e.fields?.in_ms)
    expect(delays()).toEqual([20, 40, 80, 160, 160])
    current.open()
    await sleep(250) // longer than stableMs
    current.drop(DisconnectReason.connectionLost)
    await until(() => delays().length === 6)
    expect(delays().at(-1)).toBe(20)
  })
})

describe('reconnectDelay', () => {
  it('doubles from the initial delay, never passes the cap, and jitters within the upper half', () => {
    const backoff = { initialMs: 1000, maxMs: 60_000 }
    expect([0, 1, 2, 3, 10, 50].map((n) => reconnectDelay(n, backoff, () => 1))).toEqual([
      1000, 2000, 4000, 8000, 60_000, 60_000,
    ])
    expect(reconnectDelay(3, backoff, () => 0)).toBe(4000)
  })
})

describe('messages', () => {
  it('delivers notify messages from others; ignores append and our own', async () => {
    const { t, fake } = await baileysHub()
    const { socket, phone } = await link(t, fake, 'inbox')
    const messages = collect<MessageEvent>(socket, 'message')
    phone.receive([textMessage('34600000001@s.whatsapp.net', 'history')], 'append')
    phone.receive([textMessage('34600000001@s.whatsapp.net', 'mine', { fromMe: true })])
    phone.receive([
      textMessage('123456789@lid', 'via lid', { remoteJidAlt: '34600000002@s.whatsapp.net' }),
      {
        key: { remoteJid: '34600000003@s.whatsapp.net', fromMe: false, id: 'IMG1' },
        message: { imageMessage: {} },
        messageTimestamp: 1_760_000_000,
      },
      {
        key: { remoteJid: '34600000004@s.whatsapp.net', fromMe: false, id: 'EXT1' },
        message: { extendedTextMessage: { text: 'with a link https://example.org' } },
        messageTimestamp: 1_760_000_000,
      },
    ])
    await until(() => messages.length === 3)
    expect(messages.map((m) => [m.from, m.kind, m.text])).toEqual([
      ['34600000002@s.whatsapp.net', 'text', 'via lid'],
      ['34600000003@s.whatsapp.net', 'image', '[image]'],
      ['34600000004@s.whatsapp.net', 'text', 'with a link https://example.org'],
    ])
    expect(messages[0]).toMatchObject({
      id: 'IN-via lid',
      timestamp: new Date(1_760_000_000_000).toISOString(),
    })
  })

  it('sends text to a normalized JID and acks its id', async () => {
    const { t, fake } = await baileysHub()
    const { socket, phone } = await link(t, fake, 'outbox')
    const ack = await socket.emitWithAck('send_message', {
      session_id: 'outbox',
      to: '+34600000005',
      text: 'hola',
    })
    expect(ack).toMatchObject({ ok: true, message_id: 'OUT1' })
    const byJid = await socket.emitWithAck('send_message', {
      session_id: 'outbox',
      to: '34600000006@c.us',
      text: 'adiós',
    })
    expect(byJid).toMatchObject({ ok: true })
    expect(phone.sent).toEqual([
      { jid: '34600000005@s.whatsapp.net', content: { text: 'hola' } },
      { jid: '34600000006@s.whatsapp.net', content: { text: 'adiós' } },
    ])
  })

  it('paces sends per account: burst, then a bounded queue, then rate_limited', async () => {
    const { t, fake } = await baileysHub({
      SEND_RATE_PER_S: '5',
      SEND_BURST: '2',
      SEND_QUEUE_MAX: '1',
    })
    const { socket, phone } = await link(t, fake, 'paced')
    const started = Date.now()
    const acks = await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        socket.emitWithAck('send_message', {
          session_id: 'paced',
          to: '34600000007',
          text: `n${i}`,
        }),
      ),
    )
    expect(acks.filter((ack) => ack.ok)).toHaveLength(3)
    expect(acks.filter((ack) => !ack.ok)).toEqual([
      { ok: false, error: { code: 'rate_limited', message: expect.any(String) } },
    ])
    expect(phone.sent).toHaveLength(3)
    // the queued one waited for a token (1/5 s)
    expect(Date.now() - started).toBeGreaterThanOrEqual(150)
  })
})

describe('disconnect and several accounts', () => {
  it('logs out online; offline it falls back to end(); the folder goes either way', async () => {
    const { t, fake } = await baileysHub()
    const online = await link(t, fake, 'online')
    expect(await storedSessionIds(t.dataDir)).toContain('online')
    await online.socket.emitWithAck('disconnect_whatsapp', { session_id: 'online' })
    expect(online.phone.logoutCalls).toBe(1)
    expect(await storedSessionIds(t.dataDir)).not.toContain('online')

    const offline = await link(t, fake, 'offline')
    offline.phone.drop(DisconnectReason.connectionLost) // now reconnecting, not open
    const ack = await offline.socket.emitWithAck('disconnect_whatsapp', { session_id: 'offline' })
    expect(ack).toMatchObject({ ok: true, status: 'disconnected', reason: 'logout' })
    expect(fake.sockets.every((s) => s.ended)).toBe(true)
    expect(await storedSessionIds(t.dataDir)).not.toContain('offline')
  })

  it('keeps accounts apart: one logged out, the other stays linked', async () => {
    const { t, fake } = await baileysHub()
    const a = await link(t, fake, 'account-a')
    const b = await link(t, fake, 'account-b')
    expect(a.phone).not.toBe(b.phone)
    a.phone.drop(DisconnectReason.loggedOut)
    await until(
      async () =>
        (await a.socket.emitWithAck('get_status', { session_id: 'account-a' })).status ===
        'disconnected',
    )
    expect(await b.socket.emitWithAck('get_status', { session_id: 'account-b' })).toMatchObject({
      status: 'authenticated',
      reconnecting: false,
    })
    expect(b.phone.ended).toBe(false)
  })
})

describe('with the real makeWASocket', () => {
  it('turns an unreachable WhatsApp into reconnecting, without crashing', async () => {
    const port = await freePort()

    const t = await startTestHub(
      { WA_PROVIDER: 'baileys' },
      {
        providerFactory: (context) =>
          createBaileysProvider(context, {
            versionLookups: STUB_VERSIONS,
            socketConfig: {
              waWebSocketUrl: `ws://127.0.0.1:${port}/ws/chat`,
              connectTimeoutMs: 2000,
            },
            backoff: { initialMs: 5000, maxMs: 5000, stableMs: 1000 },
          }),
      },
    )
    hubs.push(t)
    const socket = await t.connect()
    const reconnecting = nextEvent<StatusEvent>(socket, 'status', (s) => s.reconnecting, 10_000)
    await socket.emitWithAck('get_qr', { session_id: 'real' })
    expect(await reconnecting).toMatchObject({ session_id: 'real', reconnecting: true })
    expect((await t.fetch('/health')).status).toBe(200)
    expect(await socket.emitWithAck('disconnect_whatsapp', { session_id: 'real' })).toMatchObject({
      ok: true,
      status: 'disconnected',
    })
  })
})

describe('the restart WhatsApp asks for after a scan (515)', () => {
  it('reconnects at once, without a drop: no reconnecting status, no backoff, nothing in the timeline', async () => {
    const { t, fake, linkVia } = await startBaileysHub(
      {},
      // A drop would wait ten minutes here: the link completes only if 515 is not a drop.
      { dependencies: { backoff: { initialMs: 600_000, maxMs: 600_000, stableMs: 1000 } } },
    )
    const client = await t.connect()
    const statuses = collect<StatusEvent>(client, 'status')
    const { socket } = await linkVia('restart', client)
    expect(fake.sockets).toHaveLength(2)
    expect(statuses.map((s) => s.status)).toEqual(['qr_ready', 'authenticated'])
    expect(statuses.some((s) => s.reconnecting)).toBe(false)
    const timeline = (await socket.emitWithAck('get_timeline', {
      session_id: 'restart',
    })) as TimelineAck
    expect(timeline.events.map((e) => e.event)).toEqual(['linked'])
  })
})

describe('sending', () => {
  it('maps what goes wrong to error codes a client can act on', async () => {
    const { linkVia } = await startBaileysHub()
    const { socket, phone } = await linkVia('send')
    const send = () =>
      socket.emitWithAck('send_message', { session_id: 'send', to: '34600000001', text: 'hola' })

    phone.sendFails = new Boom('Connection Closed', {
      statusCode: DisconnectReason.connectionClosed,
    })
    expect(await send()).toEqual({
      ok: false,
      error: {
        code: 'not_authenticated',
        message:
          'the WhatsApp connection dropped before the message went out; try again once it is back',
      },
    })
    phone.sendFails = new Boom('not-acceptable', { statusCode: 406 })
    expect(await send()).toEqual({
      ok: false,
      error: { code: 'provider_error', message: 'WhatsApp did not accept the message' },
    })
    phone.sendFails = undefined
    expect(await send()).toMatchObject({ ok: true })
  })

  it('refuses a send while the account reconnects, saying why', async () => {
    const { fake, linkVia } = await startBaileysHub()
    const { socket, phone } = await linkVia('later')
    const reconnecting = nextEvent<StatusEvent>(socket, 'status', (s) => s.reconnecting)
    phone.drop(DisconnectReason.connectionLost)
    await reconnecting
    const ack = await socket.emitWithAck('send_message', {
      session_id: 'later',
      to: '34600000001',
      text: 'hola',
    })
    expect(ack).toEqual({
      ok: false,
      error: {
        code: 'not_authenticated',
        message: 'the WhatsApp connection is not open right now; try again once it is back',
      },
    })
    expect(fake.sockets.flatMap((s) => s.sent)).toEqual([])
  })

  it('cancels queued sends when the link ends', async () => {
    const { linkVia } = await startBaileysHub({ SEND_RATE_PER_S: '0.5', SEND_BURST: '1' })
    const { socket, phone } = await linkVia('queued')
    const send = (text: string) =>
      socket.emitWithAck('send_message', { session_id: 'queued', to: '34600000001', text })
    expect(await send('first')).toMatchObject({ ok: true })
    const queued = [send('second'), send('third')]
    await sleep(50)
    phone.drop(DisconnectReason.loggedOut)
    for (const ack of await Promise.all(queued)) {
      expect(ack).toEqual({
        ok: false,
        error: { code: 'not_authenticated', message: 'the session was disconnected' },
      })
    }
    expect(phone.sent.map((s) => (s.content as { text: string }).text)).toEqual(['first'])
  })
})

describe('closing and logging out', () => {
  it('close() ends the socket, keeps the credentials and reports nothing more', async () => {
    const t = directProvider()
    const phone = await linkPhone(t.provider, t.fake, t.session, t.calls)
    const calls = t.calls.length
    await t.provider.close('acct')
    expect(phone.live).toBe(false)
    await sleep(100) // a reconnect would have happened by now
    expect(t.fake.sockets.at(-1)).toBe(phone)
    expect(t.calls).toHaveLength(calls)
    expect(await readLinkedCreds(t.store)).toBeDefined()
    await expect(t.provider.sendMessage('acct', '34600000001', 'hola')).rejects.toMatchObject({
      code: 'not_authenticated',
    })
  })

  it('a logout WhatsApp does not answer still ends the socket and deletes the data', async () => {
    const { t, linkVia } = await startBaileysHub()
    const { socket, phone } = await linkVia('stubborn')
    phone.logoutFails = new Boom('Timed Out', { statusCode: DisconnectReason.timedOut })
    const ack = await socket.emitWithAck('disconnect_whatsapp', { session_id: 'stubborn' })
    expect(ack).toMatchObject({ ok: true, status: 'disconnected', reason: 'logout' })
    expect(phone.logoutCalls).toBe(1)
    expect(phone.live).toBe(false)
    expect(await storedSessionIds(t.dataDir)).not.toContain('stubborn')
  })
})

describe('with Baileys, the simulation endpoints', () => {
  it.each(['simulate-scan', 'simulate-message', 'simulate-silence'])(
    '%s answers 501',
    async (path) => {
      const { t, linkVia } = await startBaileysHub()
      await linkVia('real')
      const body = {
        'simulate-scan': { qr_data: 'x' },
        'simulate-message': { from: '34600000001', text: 'hola' },
        'simulate-silence': { silent: true },
      }[path]
      const res = await t.fetch(`/api/sessions/real/${path}`, {
        method: 'POST',
        body: JSON.stringify(body),
      })
      expect(res.status).toBe(501)
      expect(await res.json()).toMatchObject({ code: 'not_supported' })
    },
  )
})

describe('history and presence', () => {
  it('asks for no full history and never marks the account online', async () => {
    const t = directProvider()
    await t.provider.link(t.session, {})
    await until(() => t.fake.sockets.length === 1)
    expect(t.fake.last().config).toMatchObject({
      syncFullHistory: false,
      markOnlineOnConnect: false,
    })
    await t.provider.shutdown()
  })
})

describe('/metrics', () => {
  it("shows the provider's counters and gauges, summed over accounts", async () => {
    const { t, linkVia } = await startBaileysHub()
    const { phone } = await linkVia('measured')
    await linkVia('measured-too')
    phone.undecryptable({ id: 'X1', author: '1234567:3@lid', error: 'Bad MAC' })
    const text = await (await t.fetch('/metrics')).text()
    const value = (series: string) =>
      Number(new RegExp(`^${series.replace(/[{}"]/g, '\\$&')} (\\d+)$`, 'm').exec(text)?.[1])
    expect(value('wa_link_hub_baileys_decrypt_failures_total{reason="bad_mac"}')).toBe(1)
    expect(value('wa_link_hub_baileys_decrypt_failures_total{reason="no_session"}')).toBe(0)
    expect(value('wa_link_hub_baileys_peer_session_resets_total')).toBe(0)
    expect(value('wa_link_hub_baileys_version_lookups_total{result="wa_web"}')).toBe(1)
    const entries = value('wa_link_hub_baileys_credential_entries')
    const [a, b] = await Promise.all(
      ['measured', 'measured-too'].map(async (id) => (await credentialsOf(t.dataDir, id)).usage()),
    )
    expect(entries).toBeGreaterThan(0)
    expect(entries).toBeLessThanOrEqual(a!.entries + b!.entries)
    expect(value('wa_link_hub_baileys_memory_entries{kind="decrypt_peers"}')).toBe(1) // the peer being counted
    expect(text).toMatch(/^wa_link_hub_baileys_memory_entries\{kind="msg_retry"\} \d+$/m)
    expect(value('wa_link_hub_limit{name="DECRYPT_FAILURES_RESET"}')).toBe(5)
    expect(value('wa_link_hub_limit{name="SENT_MESSAGES_MAX"}')).toBe(500)
  })
})

describe("Baileys' own log lines", () => {
  it('reach ours from warn up, with their fields and the bindings, as "baileys: <message>"', () => {
    const log = recordingLogger()
    const baileys = bridgeLogger(log.logger, 'warn', { session_id: 'acct' })
    baileys.trace({ a: 1 }, 'trace line')
    baileys.debug({ a: 1 }, 'debug line')
    baileys.info({ a: 1 }, 'info line')
    baileys.warn({ key: 'k1' }, 'warn line')
    baileys.error({ err: 'bad' }, 'error line')
    expect(log.entries).toEqual([
      { level: 'warn', message: 'baileys: warn line', fields: { session_id: 'acct', key: 'k1' } },
      {
        level: 'error',
        message: 'baileys: error line',
        fields: { session_id: 'acct', err: 'bad' },
      },
    ])
  })

  it('take a lone string as the message, and name an object without one "baileys"', () => {
    const log = recordingLogger()
    const baileys = bridgeLogger(log.logger, 'warn', { session_id: 'acct' })
    baileys.warn('just text')
    baileys.error({ code: 7 })
    expect(log.entries).toEqual([
      { level: 'warn', message: 'baileys: just text', fields: { session_id: 'acct' } },
      { level: 'error', message: 'baileys: baileys', fields: { session_id: 'acct', code: 7 } },
    ])
  })

  it('from a socket: warnings with the account; debug lines only with DEBUG, never trace', async () => {
    for (const debug of [false, true]) {
      const t = directProvider(debug ? { DEBUG: 'true' } : {})
      await t.provider.link(t.session, {})
      await until(() => t.fake.sockets.length === 1)
      const baileys = t.fake.last().config.logger!
      baileys.trace({ n: 1 }, 'noise')
      baileys.debug({ n: 2 }, 'detail')
      baileys.warn({ n: 3 }, 'trouble')
      const mine = ['baileys: noise', 'baileys: detail', 'baileys: trouble']
      expect(
        t.log.entries
          .filter((e) => mine.includes(e.message))
          .map((e) => [e.level, e.message, e.fields]),
      ).toEqual([
        ...(debug ? [['debug', 'baileys: detail', { session_id: 'acct', n: 2 }]] : []),
        ['warn', 'baileys: trouble', { session_id: 'acct', n: 3 }],
      ])
      await t.provider.shutdown()
    }
  })
})

describe('sending, directly', () => {
  it('a send lost with the connection (408) may be retried; any other failure is logged as refused', async () => {
    const t = directProvider()
    const phone = await linkPhone(t.provider, t.fake, t.session, t.calls)
    const send = () => t.provider.sendMessage('acct', '34600000001', 'hola')
    phone.sendFails = new Boom('Connection Lost', { statusCode: DisconnectReason.connectionLost })
    await expect(send()).rejects.toMatchObject({ code: 'not_authenticated' })
    expect(t.log.find('WhatsApp did not accept a message')).toEqual([])
    const refused = new Error('a plain error, without a status')
    phone.sendFails = refused
    await expect(send()).rejects.toMatchObject({
      code: 'provider_error',
      message: 'WhatsApp did not accept the message',
    })
    expect(t.log.find('WhatsApp did not accept a message')).toEqual([
      {
        level: 'error',
        message: 'WhatsApp did not accept a message',
        fields: { session_id: 'acct', error: refused },
      },
    ])
    await t.provider.shutdown()
  })

  it('fails a send WhatsApp did not confirm with an id and the message', async () => {
    const t = directProvider()
    const phone = await linkPhone(t.provider, t.fake, t.session, t.calls)
    const unconfirmed = { code: 'provider_error', message: 'WhatsApp did not confirm the message' }
    phone.sendMessage = async () => undefined
    await expect(t.provider.sendMessage('acct', '34600000001', 'hola')).rejects.toMatchObject(
      unconfirmed,
    )
    phone.sendMessage = async (jid) =>
      ({ key: { id: 'OUT9', remoteJid: jid, fromMe: true } }) as Awaited<
        ReturnType<FakeWASocket['sendMessage']>
      >
    await expect(t.provider.sendMessage('acct', '34600000001', 'hola')).rejects.toMatchObject(
      unconfirmed,
    )
    await t.provider.shutdown()
  })
})

describe('closing and logging out, directly', () => {
  it('closing or logging out an account it does not have does nothing, and does not fail', async () => {
    const t = directProvider()
    await expect(t.provider.close('nobody')).resolves.toBeUndefined()
    await expect(t.provider.logout('nobody')).resolves.toBeUndefined()
    expect(t.calls).toEqual([])
  })

  it('logs out offline without asking WhatsApp, saying why at debug', async () => {
    const t = directProvider()
    const phone = await linkPhone(t.provider, t.fake, t.session, t.calls)
    phone.drop(DisconnectReason.connectionLost)
    await until(() => t.of('reconnecting').length === 1)
    await t.provider.logout('acct')
    expect(t.fake.sockets.map((s) => s.logoutCalls)).toEqual(t.fake.sockets.map(() => 0))
    expect(t.fake.live()).toEqual([])
    expect(t.log.find('WhatsApp did not hear the logout; ending the connection')).toEqual([
      {
        level: 'debug',
        message: 'WhatsApp did not hear the logout; ending the connection',
        fields: {
          session_id: 'acct',
          error: expect.objectContaining({ message: 'not connected' }),
        },
      },
    ])
  })

  it('an online logout is ours: the provider reports no remote logout and does not reconnect', async () => {
    const t = directProvider()
    const phone = await linkPhone(t.provider, t.fake, t.session, t.calls)
    const calls = t.calls.length
    await t.provider.logout('acct')
    expect(phone.logoutCalls).toBe(1)
    await sleep(100)
    expect(t.calls).toHaveLength(calls)
    expect(t.fake.last()).toBe(phone)
    expect(phone.live).toBe(false)
  })

  it('does not announce a link closed while its credentials were being written', async () => {
    const t = directProvider()
    await scanPhone(t.provider, t.fake, t.session)
    t.store.hold() // the disk is slow from here on
    t.fake.last().open()
    await sleep(20)
    const closed = t.provider.close('acct')
    await sleep(20)
    t.store.release()
    await closed
    await sleep(50)
    expect(t.of('authenticated')).toEqual([])
  })

  it('logs a link the hub could not confirm', async () => {
    const t = directProvider()
    const failure = new Error('the hub could not record it')
    t.session.sink.authenticated = async () => {
      throw failure
    }
    await scanPhone(t.provider, t.fake, t.session)
    t.fake.last().open()
    await until(() => t.log.find('Could not confirm a WhatsApp link').length === 1)
    expect(t.log.find('Could not confirm a WhatsApp link')[0]).toMatchObject({
      level: 'error',
      fields: { session_id: 'acct', error: failure },
    })
    await t.provider.shutdown()
  })

  it('closing does not wait long for a socket that never reports its close', async () => {
    const t = directProvider()
    const phone = await linkPhone(t.provider, t.fake, t.session, t.calls)
    phone.end = () => new Promise<void>(() => {})
    const started = Date.now()
    await t.provider.close('acct')
    expect(Date.now() - started).toBeLessThan(3000)
  })
})

describe('linking again and resuming', () => {
  it('a new link replaces a linked account: its socket ends first, the new one starts fresh', async () => {
    const t = directProvider()
    const phone = await linkPhone(t.provider, t.fake, t.session, t.calls)
    await t.provider.link(t.session, {})
    await until(() => t.fake.sockets.length === 3)
    expect(phone.live).toBe(false)
    expect(t.fake.maxLive()).toBe(1)
    expect(t.fake.last().config.auth.creds.me).toBeUndefined()
    await t.provider.shutdown()
  })

  it('resuming a connected account keeps its socket and announces it again', async () => {
    const t = directProvider()
    const phone = await linkPhone(t.provider, t.fake, t.session, t.calls)
    await t.provider.resume(t.session)
    await until(() => t.of('authenticated').length === 2)
    expect(t.of('authenticated')[1]).toEqual([{ id: '34600111222@s.whatsapp.net', name: 'Ana' }])
    expect(t.fake.sockets).toHaveLength(2)
    expect(phone.live).toBe(true)
    await t.provider.shutdown()
  })

  it('resuming an account that is reconnecting reports it reconnecting, on the same socket', async () => {
    const t = directProvider()
    const phone = await linkPhone(t.provider, t.fake, t.session, t.calls)
    phone.drop(DisconnectReason.connectionLost)
    await until(() => t.fake.sockets.length === 3)
    const before = t.of('reconnecting').length
    await t.provider.resume(t.session)
    expect(t.of('reconnecting').slice(before)).toEqual([[true]])
    expect(t.of('authenticated')).toHaveLength(1)
    expect(t.fake.sockets).toHaveLength(3)
    expect(t.fake.last().live).toBe(true)
    await t.provider.shutdown()
  })

  it('resuming an account without stored credentials fails it, with no socket', async () => {
    const t = directProvider()
    await t.provider.resume(t.session)
    expect(t.of('disconnected')).toEqual([
      ['failed', { message: 'stored WhatsApp credentials are missing' }],
    ])
    expect(t.fake.sockets).toEqual([])
  })
})

describe('without metrics', () => {
  it('links, logs credential writes that fail, and resets peers all the same', async () => {
    const fake = fakeBaileys()
    const log = recordingLogger()
    const provider = createBaileysProvider(
      {
        config: loadConfig({ WA_PROVIDER: 'baileys', DECRYPT_FAILURES_RESET: '2' }),
        logger: log.logger,
      },
      {
        makeSocket: fake.makeSocket,
        versionLookups: STUB_VERSIONS,
        backoff: { initialMs: 10, maxMs: 40, stableMs: 1000 },
      },
    )
    const store = new MemoryNamespace()
    const sink = recordingSink()
    const phone = await linkPhone(provider, fake, { id: 'bare', store, sink }, sink.calls)
    for (let i = 0; i < 2; i++) {
      phone.undecryptable({ id: `BAD${i}`, author: '7777:2@lid', error: 'Bad MAC' })
    }
    await until(
      () =>
        log.find('Dropped the encryption sessions with a peer after repeated decryption failures')
          .length === 1,
    )
    const failure = new Error('disk full')
    store.write = async () => {
      throw failure
    }
    phone.ev.emit('creds.update', {})
    await until(() => log.find('Could not save WhatsApp credentials').length === 1)
    expect(log.find('Could not save WhatsApp credentials')[0]).toMatchObject({
      level: 'error',
      fields: { session_id: 'bare', error: failure },
    })
    await provider.shutdown()
  })
})

describe('gauges', () => {
  it('read zero, never NaN, for an account still linking', async () => {
    const t = directProvider()
    await t.provider.link(t.session, {})
    await until(() => t.fake.sockets.length === 1)
    const gauges = t.counted.gauges()
    expect(gauges.credentials()).toEqual({ entries: 0, bytes: 0 })
    const memory = gauges.memory()
    expect(Object.keys(memory)).toEqual(
      expect.arrayContaining([
        'user_devices',
        'call_offer',
        'placeholder_resend',
        'signal_keys',
        'sent_messages',
      ]),
    )
    for (const value of Object.values(memory)) expect(Number.isFinite(value)).toBe(true)
    await t.provider.shutdown()
  })
})

describe('received messages, directly', () => {
  it('a message the hub fails to take is logged, and the next one still goes out', async () => {
    const t = directProvider()
    const phone = await linkPhone(t.provider, t.fake, t.session, t.calls)
    const failure = new Error('the hub could not take it')
    const message = t.session.sink.message
    t.session.sink.message = (incoming) => {
      if (incoming.text === 'first') throw failure
      message(incoming)
    }
    phone.receive([
      textMessage('34600000001@s.whatsapp.net', 'first'),
      textMessage('34600000001@s.whatsapp.net', 'second'),
    ])
    await until(() => t.of('message').length === 1)
    expect(t.of('message')[0]![0]).toMatchObject({ text: 'second' })
    expect(t.log.find('Could not report an incoming message')).toEqual([
      {
        level: 'warn',
        message: 'Could not report an incoming message',
        fields: { session_id: 'acct', error: failure },
      },
    ])
    await t.provider.shutdown()
  })

  it('reports nothing more once the account is closed, even a message that was on its way', async () => {
    const t = directProvider()
    const phone = await linkPhone(t.provider, t.fake, t.session, t.calls)
    let answer: (pn: string | null) => void = () => {}
    phone.signalRepository.lidMapping.getPNForLID = () =>
      new Promise((resolve) => {
        answer = resolve
      })
    phone.receive([textMessage('123456789@lid', 'late')])
    await sleep(20)
    await t.provider.close('acct')
    answer('34600000002:3@s.whatsapp.net')
    await sleep(50)
    expect(t.of('message')).toEqual([])
  })
})

describe('drops, directly', () => {
  it('reports the code and reason of a drop and when it retries, and logs the close at debug', async () => {
    const t = directProvider()
    const phone = await linkPhone(t.provider, t.fake, t.session, t.calls)
    phone.drop(DisconnectReason.unavailableService, 'Service Unavailable')
    await until(() => t.of('reconnecting').length === 1)
    expect(t.of('reconnecting')[0]).toEqual([
      true,
      { code: 503, message: 'Service Unavailable', retryInMs: 10 },
    ])
    expect(t.log.find('WhatsApp connection closed').at(-1)).toEqual({
      level: 'debug',
      message: 'WhatsApp connection closed',
      fields: { session_id: 'acct', code: 503, reason: 'Service Unavailable' },
    })
    await t.provider.shutdown()
  })

  it('looks the WhatsApp Web version up again for a 405, not for every drop', async () => {
    let clock = 1_760_000_000_000
    const t = directProvider({}, { now: () => clock })
    const phone = await linkPhone(t.provider, t.fake, t.session, t.calls)
    const lookups = () => t.counted.counts['version:wa_web']
    expect(lookups()).toBe(1)
    clock += 60_000 // lookups may run again from now on
    phone.drop(DisconnectReason.connectionLost)
    await until(() => t.fake.sockets.length === 3)
    expect(lookups()).toBe(1)
    t.fake.last().drop(405, 'Connection Failure')
    await until(() => t.fake.sockets.length === 4)
    expect(lookups()).toBe(2)
    await t.provider.shutdown()
  })

  it('a close without a cause is a drop like any other', async () => {
    const t = directProvider()
    const phone = await linkPhone(t.provider, t.fake, t.session, t.calls)
    phone.ev.emit('connection.update', { connection: 'close' })
    await until(() => t.of('reconnecting').length === 1)
    expect(t.of('reconnecting')[0]).toEqual([
      true,
      { code: undefined, message: 'connection closed', retryInMs: 10 },
    ])
    await until(() => t.fake.sockets.length === 3)
    await t.provider.shutdown()
  })
})
