import { afterEach, describe, expect, it } from 'vitest'
import type { QrCodeEvent, StatusEvent, TimelineEntry } from '../../server/protocol'
import { collect, nextEvent, startTestHub, type TestHub } from '../helpers/hub'

const SILENCE_MS = 150
const hubs: TestHub[] = []
afterEach(async () => {
  for (const hub of hubs.splice(0)) await hub.close(true)
})

async function start(dataDir?: string) {
  const hub = await startTestHub(
    { HEALTH_SILENCE_MS: String(SILENCE_MS), RATE_LIMIT_PER_S: '1000', RATE_LIMIT_BURST: '1000' },
    { dataDir },
  )
  hubs.push(hub)
  return hub
}

async function linked(t: TestHub, id: string) {
  const socket = await t.connect()
  const qr = nextEvent<QrCodeEvent>(socket, 'qr_code')
  await socket.emitWithAck('get_qr', { session_id: id })
  const auth = nextEvent(socket, 'authenticated')
  await scan(t, id, (await qr).qr_data)
  await auth
  return socket
}

async function scan(t: TestHub, id: string, qrData: string) {
  const res = await t.fetch(`/api/sessions/${id}/simulate-scan`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ qr_data: qrData, name: 'Health' }),
  })
  expect(res.status).toBe(200)
}

function silence(t: TestHub, id: string, silent: boolean) {
  return t.fetch(`/api/sessions/${id}/simulate-silence`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ silent }),
  })
}

async function timeline(socket: Awaited<ReturnType<typeof linked>>, id: string) {
  const ack = await socket.emitWithAck('get_timeline', { session_id: id })
  expect(ack).toMatchObject({ ok: true, session_id: id })
  return ack.events as TimelineEntry[]
}

describe('account health', () => {
  it('reports a silent account degraded with a reason, and ok when it answers again', async () => {
    const t = await start()
    const socket = await linked(t, 'quiet')
    const degraded = nextEvent<StatusEvent>(socket, 'status', (s) => s.health === 'degraded')
    expect((await silence(t, 'quiet', true)).status).toBe(200)
    const status = await degraded
    expect(status).toMatchObject({ status: 'authenticated', reconnecting: false })
    expect(status.health_reason).toMatch(/has not answered for 0\.\d s/)
    const ok = nextEvent<StatusEvent>(socket, 'status', (s) => s.health === 'ok')
    expect((await silence(t, 'quiet', false)).status).toBe(200)
    expect(await ok).not.toHaveProperty('health_reason')
    const events = await timeline(socket, 'quiet')
    expect(events.map((e) => e.event)).toEqual(['linked', 'degraded', 'recovered'])
    expect(events[1]).toMatchObject({ action: expect.stringMatching(/reconnecting if/) })
  })

  it('reconnects an account that stays silent for a second window', async () => {
    const t = await start()
    const socket = await linked(t, 'zombie')
    const statuses = collect<StatusEvent>(socket, 'status')
    const dropped = nextEvent<StatusEvent>(socket, 'status', (s) => s.reconnecting, 3000)
    await silence(t, 'zombie', true)
    await dropped
    const back = statuses.at(-1)!
    expect(back).toMatchObject({ status: 'authenticated', health: 'ok' })
    expect(statuses.map((s) => s.health)).toContain('degraded')
    const events = await timeline(socket, 'zombie')
    expect(events.map((e) => e.event)).toEqual(['linked', 'degraded', 'dropped', 'connected'])
    expect(events[2]).toMatchObject({
      text: expect.stringMatching(/has not answered.*dropped/),
      action: 'reconnecting in 1 s',
    })
  })

  it('keeps the last 100 events per account across a restart', async () => {
    const t = await start()
    const socket = await linked(t, 'history')
    for (let round = 0; round < 55; round++) {
      const degraded = nextEvent<StatusEvent>(socket, 'status', (s) => s.health === 'degraded')
      await silence(t, 'history', true)
      await degraded
      const ok = nextEvent<StatusEvent>(socket, 'status', (s) => s.health === 'ok')
      await silence(t, 'history', false)
      await ok
    }
    const before = await timeline(socket, 'history')
    expect(before).toHaveLength(100)
    expect(before[0]!.event).not.toBe('linked') // the oldest went first
    expect(before.at(-1)!.event).toBe('recovered')
    await t.close()
    hubs.length = 0
    const again = await start(t.dataDir)
    const client = await again.connect()
    const after = await timeline(client, 'history')
    // Resuming the account after the restart is one more event; the oldest makes room for it.
    expect(after).toHaveLength(100)
    expect(after.slice(0, 99)).toEqual(before.slice(1))
    expect(after.at(-1)!.event).toBe('connected')
  })

  it('answers get_timeline errors and simulate-silence misuse clearly', async () => {
    const t = await start()
    const socket = await t.connect()
    expect(await socket.emitWithAck('get_timeline', { session_id: 'nobody' })).toMatchObject({
      ok: false,
      error: { code: 'unknown_session' },
    })
    expect(await socket.emitWithAck('get_timeline', { session_id: '../x' })).toMatchObject({
      ok: false,
      error: { code: 'invalid_payload' },
    })
    await socket.emitWithAck('get_qr', { session_id: 'unlinked' })
    const res = await silence(t, 'unlinked', true)
    expect(res.status).toBe(409)
    expect(await res.json()).toMatchObject({ code: 'not_authenticated' })
    const bad = await t.fetch('/api/sessions/unlinked/simulate-silence', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ silent: 'yes' }),
    })
    expect(bad.status).toBe(400)
  })
})
