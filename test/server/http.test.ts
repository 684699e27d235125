import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { configuredLimits } from '../../server/config'
import type { QrCodeEvent } from '../../server/protocol'
import { nextEvent, startTestHub, type TestHub } from '../helpers/hub'

let t: TestHub
beforeAll(async () => {
  t = await startTestHub()
})
afterAll(async () => {
  await t.close(true)
})

describe('HTTP endpoints', () => {
  it('GET /health is open to everyone', async () => {
    const res = await t.fetch('/health', { token: null })
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({
      status: 'ok',
      version: expect.any(String),
      uptime_s: expect.any(Number),
    })
  })

  it.each(['/stats', '/metrics', '/api/sessions'])('%s needs the token', async (path) => {
    const missing = await t.fetch(path, { token: null })
    expect(missing.status).toBe(401)
    expect(await missing.json()).toMatchObject({ code: 'unauthorized' })
    const wrong = await t.fetch(path, { token: 'not-the-token-at-all' })
    expect(wrong.status).toBe(401)
    expect((await t.fetch(path)).status).toBe(200)
    expect((await t.fetch(`${path}?token=${t.info.token}`, { token: null })).status).toBe(200)
  })

  it('GET /stats counts clients and sessions by status', async () => {
    const socket = await t.connect()
    await socket.emitWithAck('get_qr', { session_id: 'stats-1' })
    const body = await (await t.fetch('/stats')).json()
    expect(body).toMatchObject({
      uptime_s: expect.any(Number),
      clients: 1,
      sessions: { total: 1, pending: 0, qr_ready: 1, authenticated: 0, disconnected: 0 },
      provider: 'simulated',
    })
    socket.close()
  })

  it('GET /metrics speaks Prometheus text with the hub series', async () => {
    const socket = await t.connect()
    await socket.emitWithAck('get_status', { session_id: 'no-such-session' })
    const res = await t.fetch('/metrics')
    expect(res.headers.get('content-type')).toContain('text/plain')
    const text = await res.text()
    expect(text).toMatch(/^wa_link_hub_clients \d+$/m)
    expect(text).toMatch(/^wa_link_hub_sessions\{status="qr_ready"\} \d+$/m)
    expect(text).toMatch(/^wa_link_hub_events_in_total\{event="get_status"\} [1-9]\d*$/m)
    expect(text).toMatch(/^wa_link_hub_events_out_total\{event="error"\} [1-9]\d*$/m)
    expect(text).toMatch(/^wa_link_hub_errors_total\{code="unknown_session"\} [1-9]\d*$/m)
    expect(text).toMatch(/^wa_link_hub_qr_renders_total \d+$/m)
    expect(text).toMatch(/^wa_link_hub_nodejs_eventloop_lag_seconds /m)
    socket.close()
  })

  it('GET /metrics shows every configured limit and the network counters from zero', async () => {
    const text = await (await t.fetch('/metrics')).text()
    for (const [name, value] of Object.entries(configuredLimits(t.config))) {
      expect(text).toContain(`wa_link_hub_limit{name="${name}"} ${value}\n`)
    }
    for (const series of [
      'wa_link_hub_clients_dropped_total{reason="buffer_full"} 0',
      'wa_link_hub_connections_refused_total{reason="unauthenticated_limit"} 0',
      'wa_link_hub_connections_refused_total{reason="origin"} 0',
      'wa_link_hub_auth_rate_limited_total{kind="socket"} 0',
      'wa_link_hub_faults_total{origin="uncaughtException"} 0',
      'wa_link_hub_http_client_errors_total{code="request_timeout"} 0',
      'wa_link_hub_http_client_errors_total{code="body_cut_off"} 0',
      'wa_link_hub_qr_renders_waiting 0',
      'wa_link_hub_qr_renders_on_thread_total 0',
    ]) {
      expect(text).toContain(`${series}\n`)
    }
    expect(text).toMatch(/^wa_link_hub_unauthenticated_connections \d+$/m)
    expect(text).toMatch(/^wa_link_hub_client_buffer_bytes\{clients="all"\} \d+$/m)
    expect(text).toMatch(/^wa_link_hub_auth_tracked_addresses \d+$/m)
  })

  describe('simulate-scan', () => {
    const post = (id: string, body: string) =>
      t.fetch(`/api/sessions/${id}/simulate-scan`, { method: 'POST', body })

    it('answers 404 for an unknown session', async () => {
      const res = await post('ghost', JSON.stringify({ qr_data: 'x' }))
      expect(res.status).toBe(404)
      expect(await res.json()).toMatchObject({ code: 'unknown_session' })
    })

    it('answers 400 with JSON for a bad body, and 413 for a huge one', async () => {
      const socket = await t.connect()
      const qr = nextEvent<QrCodeEvent>(socket, 'qr_code')
      await socket.emitWithAck('get_qr', { session_id: 'bodies' })
      await qr
      for (const body of ['not json', '[]', '{"qr_data": 5}', '{}', 'null']) {
        const res = await post('bodies', body)
        expect(res.status).toBe(400)
        expect(await res.json()).toMatchObject({
          code: 'invalid_payload',
          message: expect.any(String),
        })
      }
      const huge = await post('bodies', JSON.stringify({ qr_data: 'x'.repeat(100_000) }))
      expect(huge.status).toBe(413)
      expect(await huge.json()).toMatchObject({ code: 'payload_too_large' })
      const badId = await post('bad%20id', JSON.stringify({ qr_data: 'x' }))
      expect(badId.status).toBe(400)
      const badEncoding = await post('%E0%A4%A', JSON.stringify({ qr_data: 'x' }))
      expect(badEncoding.status).toBe(400)
      expect(await badEncoding.json()).toMatchObject({ code: 'invalid_payload' })
      socket.close()
    })

    it('accepts only POST', async () => {
      const res = await t.fetch('/api/sessions/x/simulate-scan')
      expect(res.status).toBe(405)
      expect(await res.json()).toMatchObject({ code: 'method_not_allowed' })
    })
  })

  it('answers 404 JSON for unknown API paths', async () => {
    const res = await t.fetch('/api/nothing-here')
    expect(res.status).toBe(404)
    expect(await res.json()).toMatchObject({ code: 'not_found' })
  })

  it('serves a page at / with a strict CSP and no referrer', async () => {
    const res = await t.fetch('/', { token: null })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toContain('text/html')
    const csp = res.headers.get('content-security-policy') ?? ''
    expect(csp).toContain("default-src 'self'")
    expect(csp).toContain("script-src 'self'")
    expect(csp).toContain(`ws://${new URL(t.info.url).host}`)
    expect(res.headers.get('referrer-policy')).toBe('no-referrer')
    expect(await res.text()).toContain('WA Link Hub')
  })
})
