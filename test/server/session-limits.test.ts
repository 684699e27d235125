import { afterEach, describe, expect, it } from 'vitest'
import type { ErrorEvent, StatsBody, StatusEvent } from '../../server/protocol'
import { nextEvent, startTestHub, type TestHub } from '../helpers/hub'

const hubs: TestHub[] = []
afterEach(async () => {
  for (const hub of hubs.splice(0)) await hub.close(true)
})
const start = async (env: Record<string, string>) => {
  const hub = await startTestHub({ RATE_LIMIT_PER_S: '1000', RATE_LIMIT_BURST: '1000', ...env })
  hubs.push(hub)
  return hub
}

describe('session limits', () => {
  it('refuses a session over MAX_SESSIONS with limit_reached, and keeps serving the others', async () => {
    const t = await start({ MAX_SESSIONS: '3', MAX_PENDING_PER_CLIENT: '100' })
    const socket = await t.connect()
    for (const id of ['s1', 's2', 's3']) {
      expect(await socket.emitWithAck('get_qr', { session_id: id })).toMatchObject({ ok: true })
    }
    const error = nextEvent<ErrorEvent>(socket, 'error')
    const over = await socket.emitWithAck('get_qr', { session_id: 's4' })
    expect(over).toMatchObject({ ok: false, error: { code: 'limit_reached' } })
    expect((over as { error: { message: string } }).error.message).toMatch(/MAX_SESSIONS/)
    expect(await error).toMatchObject({ code: 'limit_reached', event: 'get_qr', session_id: 's4' })
    // Nothing was created for the refused request, and existing sessions still answer.
    const stats = (await (await t.fetch('/stats')).json()) as StatsBody
    expect(stats.sessions.total).toBe(3)
    expect(await socket.emitWithAck('get_qr', { session_id: 's1' })).toMatchObject({ ok: true })
    expect(await socket.emitWithAck('get_status', { session_id: 's4' })).toMatchObject({
      ok: false,
      error: { code: 'unknown_session' },
    })
    // Once one goes, a new one fits.
    await socket.emitWithAck('disconnect_whatsapp', { session_id: 's2' })
    expect(await socket.emitWithAck('get_qr', { session_id: 's2' })).toMatchObject({ ok: true })
  })

  it('lets one connection have MAX_PENDING_PER_CLIENT links waiting for a scan, not more', async () => {
    const t = await start({ MAX_PENDING_PER_CLIENT: '2' })
    const greedy = await t.connect()
    expect(await greedy.emitWithAck('get_qr', { session_id: 'a' })).toMatchObject({ ok: true })
    expect(await greedy.emitWithAck('get_qr', { session_id: 'b' })).toMatchObject({ ok: true })
    const over = await greedy.emitWithAck('get_qr', { session_id: 'c' })
    expect(over).toMatchObject({ ok: false, error: { code: 'limit_reached' } })
    expect((over as { error: { message: string } }).error.message).toMatch(/MAX_PENDING_PER_CLIENT/)
    // Asking again for a link it already has is not a new one.
    expect(await greedy.emitWithAck('get_qr', { session_id: 'a' })).toMatchObject({ ok: true })
    // Another connection has its own allowance.
    const other = await t.connect()
    expect(await other.emitWithAck('get_qr', { session_id: 'c' })).toMatchObject({ ok: true })
    // A linked session no longer counts: scanning one frees a slot.
    const code = nextEvent<{ qr_data: string }>(greedy, 'qr_code')
    await greedy.emitWithAck('get_qr', { session_id: 'a' })
    const scan = await t.fetch('/api/sessions/a/simulate-scan', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ qr_data: (await code).qr_data }),
    })
    expect(scan.status).toBe(200)
    expect(await greedy.emitWithAck('get_qr', { session_id: 'd' })).toMatchObject({ ok: true })
    expect(await greedy.emitWithAck('get_qr', { session_id: 'e' })).toMatchObject({
      ok: false,
      error: { code: 'limit_reached' },
    })
  })

  it('frees a connection’s allowance when it leaves', async () => {
    const t = await start({ MAX_PENDING_PER_CLIENT: '1' })
    const first = await t.connect()
    expect(await first.emitWithAck('get_qr', { session_id: 'x' })).toMatchObject({ ok: true })
    expect(await first.emitWithAck('get_qr', { session_id: 'y' })).toMatchObject({ ok: false })
    first.close()
    const again = await t.connect()
    expect(await again.emitWithAck('get_qr', { session_id: 'y' })).toMatchObject({ ok: true })
    const status = await again.emitWithAck('get_status', { session_id: 'x' })
    expect((status as StatusEvent).status).toBe('qr_ready')
  })
})
