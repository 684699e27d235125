import { io } from 'socket.io-client'
import { afterEach, describe, expect, it } from 'vitest'
import type { QrCodeEvent } from '../../server/protocol'
import { nextEvent, startTestHub, type TestHub } from '../helpers/hub'

let t: TestHub
afterEach(async () => {
  await t.close(true)
})

const ALLOWED = 'https://app.example.com'
const OTHER = 'https://evil.example'

/** A session showing a QR, and its QR data. */
async function showingQr(sessionId: string): Promise<string> {
  const socket = await t.connect()
  const qr = nextEvent<QrCodeEvent>(socket, 'qr_code')
  await socket.emitWithAck('get_qr', { session_id: sessionId })
  return (await qr).qr_data
}
const statusOf = async (sessionId: string) =>
  (
    (await (await t.fetch('/api/sessions')).json()) as {
      sessions: { session_id: string; status: string }[]
    }
  ).sessions.find((s) => s.session_id === sessionId)?.status

describe('the access token over HTTP', () => {
  it.each(['Bearer', 'bearer', 'BEARER', 'bEaReR'])(
    'accepts the %s scheme, in any case',
    async (scheme) => {
      t = await startTestHub()
      const res = await t.fetch('/stats', {
        token: null,
        headers: { Authorization: `${scheme} ${t.info.token}` },
      })
      expect(res.status).toBe(200)
    },
  )

  it('refuses other schemes', async () => {
    t = await startTestHub()
    const res = await t.fetch('/stats', {
      token: null,
      headers: { Authorization: `Basic ${t.info.token}` },
    })
    expect(res.status).toBe(401)
  })
})

describe('state-changing requests take only JSON', () => {
  it.each([
    ['text/plain;charset=UTF-8'],
    ['application/x-www-form-urlencoded'],
    ['multipart/form-data; boundary=x'],
  ])('refuses %s with 415, and does nothing', async (type) => {
    t = await startTestHub()
    const qrData = await showingQr('form')
    // What a cross-origin HTML form or a "simple" fetch may send without a CORS preflight.
    const res = await fetch(
      new URL(`/api/sessions/form/simulate-scan?token=${t.info.token}`, t.info.url),
      {
        method: 'POST',
        headers: { 'Content-Type': type, Origin: OTHER },
        body: JSON.stringify({ qr_data: qrData }),
      },
    )
    expect(res.status).toBe(415)
    expect(await res.json()).toMatchObject({ code: 'unsupported_media_type' })
    expect(await statusOf('form')).toBe('qr_ready')
  })

  it('refuses a body without a Content-Type', async () => {
    t = await startTestHub()
    const qrData = await showingQr('untyped')
    const res = await fetch(new URL('/api/sessions/untyped/simulate-scan', t.info.url), {
      method: 'POST',
      headers: { Authorization: `Bearer ${t.info.token}` },
      body: new TextEncoder().encode(JSON.stringify({ qr_data: qrData })),
    })
    expect(res.status).toBe(415)
  })

  it('accepts application/json with parameters, in any case', async () => {
    t = await startTestHub()
    const qrData = await showingQr('typed')
    const res = await t.fetch('/api/sessions/typed/simulate-scan', {
      method: 'POST',
      headers: { 'Content-Type': 'Application/JSON; charset=utf-8' },
      body: JSON.stringify({ qr_data: qrData }),
    })
    expect(res.status).toBe(200)
    expect(await statusOf('typed')).toBe('authenticated')
  })
})

describe('CORS_ORIGINS', () => {
  it('lets every origin in by default', async () => {
    t = await startTestHub()
    const preflight = await fetch(new URL('/api/sessions/x/simulate-scan', t.info.url), {
      method: 'OPTIONS',
      headers: { Origin: OTHER, 'Access-Control-Request-Method': 'POST' },
    })
    expect(preflight.status).toBe(204)
    expect(preflight.headers.get('access-control-allow-origin')).toBe('*')
    const socket = io(t.info.url, {
      auth: { token: t.info.token },
      extraHeaders: { Origin: OTHER },
      reconnection: false,
    })
    await nextEvent(socket, 'connected')
    socket.close()
  })

  describe('with a list', () => {
    const start = () => startTestHub({ CORS_ORIGINS: `${ALLOWED}, http://localhost:3000` })

    it('answers a listed origin with CORS headers, and another without', async () => {
      t = await start()
      const listed = await t.fetch('/stats', { headers: { Origin: ALLOWED } })
      expect(listed.status).toBe(200)
      expect(listed.headers.get('access-control-allow-origin')).toBe(ALLOWED)
      expect(listed.headers.get('vary')).toBe('Origin')
      const other = await t.fetch('/stats', { headers: { Origin: OTHER } })
      expect(other.headers.get('access-control-allow-origin')).toBeNull()
      const preflight = await fetch(new URL('/stats', t.info.url), {
        method: 'OPTIONS',
        headers: { Origin: OTHER, 'Access-Control-Request-Method': 'GET' },
      })
      expect(preflight.status).toBe(403)
      expect(await preflight.json()).toMatchObject({ code: 'forbidden_origin' })
    })

    it('refuses a state-changing request from another origin, even with the token', async () => {
      t = await start()
      const qrData = await showingQr('guarded')
      const body = JSON.stringify({ qr_data: qrData })
      const refused = await t.fetch('/api/sessions/guarded/simulate-scan', {
        method: 'POST',
        headers: { Origin: OTHER },
        body,
      })
      expect(refused.status).toBe(403)
      expect(await refused.json()).toMatchObject({ code: 'forbidden_origin' })
      expect(await statusOf('guarded')).toBe('qr_ready')
      const allowed = await t.fetch('/api/sessions/guarded/simulate-scan', {
        method: 'POST',
        headers: { Origin: ALLOWED },
        body,
      })
      expect(allowed.status).toBe(200)
    })

    it("always lets in the hub's own web UI (its own origin)", async () => {
      t = await start()
      const qrData = await showingQr('own')
      const res = await t.fetch('/api/sessions/own/simulate-scan', {
        method: 'POST',
        headers: { Origin: new URL(t.info.url).origin },
        body: JSON.stringify({ qr_data: qrData }),
      })
      expect(res.status).toBe(200)
    })

    it.each(['polling', 'websocket'] as const)(
      'refuses a Socket.IO connection from another origin over %s',
      async (transport) => {
        t = await start()
        const connect = (origin?: string) =>
          new Promise<string>((resolve) => {
            const socket = io(t.info.url, {
              auth: { token: t.info.token },
              transports: [transport],
              reconnection: false,
              forceNew: true,
              ...(origin ? { extraHeaders: { Origin: origin } } : {}),
            })
            socket.once('connect', () => {
              socket.close()
              resolve('connected')
            })
            socket.once('connect_error', (error) => {
              socket.close()
              resolve(`refused: ${error.message}`)
            })
          })
        expect(await connect(OTHER)).toMatch(/^refused/)
        expect(await connect(ALLOWED)).toBe('connected')
        expect(await connect()).toBe('connected')
        const metrics = await (await t.fetch('/metrics')).text()
        expect(metrics).toMatch(/^wa_link_hub_connections_refused_total\{reason="origin"\} 1$/m)
      },
    )

    it('answers a listed origin on Socket.IO polling with its CORS header', async () => {
      t = await start()
      const handshake = (origin: string) =>
        fetch(new URL('/socket.io/?EIO=4&transport=polling', t.info.url), {
          headers: { Origin: origin },
        })
      const listed = await handshake(ALLOWED)
      expect(listed.status).toBe(200)
      expect(listed.headers.get('access-control-allow-origin')).toBe(ALLOWED)
      const other = await handshake(OTHER)
      expect(other.status).toBe(403)
      expect(other.headers.get('access-control-allow-origin')).toBeNull()
    })
  })
})
