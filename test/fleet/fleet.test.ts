import type { Socket } from 'socket.io-client'
import { afterEach, describe, expect, it } from 'vitest'
import type {
  DisconnectedEvent,
  MessageEvent,
  QrCodeEvent,
  StatsBody,
  StatusEvent,
} from '../../server/protocol'
import { eventually, fleetClient, ownedBy, startFleetHub, type FleetHub } from '../helpers/fleet'
import { collect, nextEvent, sleep } from '../helpers/hub'
import { startRedis, type TestRedis } from '../helpers/redis'

let redis: TestRedis | undefined
const hubs: FleetHub[] = []
const sockets: Socket[] = []
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.close()
  for (const hub of hubs.splice(0)) {
    if (hub.child.signalCode === 'SIGSTOP') hub.child.kill('SIGCONT')
    hub.child.kill('SIGKILL')
  }
  await redis?.stop()
  redis = undefined
})

/** Redis and three hubs, A, B and C, in processes of their own. */
async function fleet(env: Record<string, string> = {}, options: { persist?: boolean } = {}) {
  redis = await startRedis(options)
  const started = await Promise.all(['A', 'B', 'C'].map((name) => startFleetHub(redis!, name, env)))
  hubs.push(...started)
  const [a, b, c] = started as [FleetHub, FleetHub, FleetHub]
  // Every hub has announced itself before a test places sessions.
  await eventually(async () => expect(Object.keys(await ownedBy(a))).toHaveLength(3))
  return { a, b, c }
}

/** Starts a link through `hub` and scans it through `scanVia`; resolves once linked. */
async function linkVia(hub: FleetHub, id: string, scanVia: FleetHub = hub) {
  const socket = await fleetClient(hub, sockets)
  const qr = nextEvent<QrCodeEvent>(socket, 'qr_code')
  expect(await socket.emitWithAck('get_qr', { session_id: id })).toMatchObject({ ok: true })
  const linked = nextEvent(socket, 'authenticated')
  const res = await scanVia.post(`/api/sessions/${id}/simulate-scan`, {
    qr_data: (await qr).qr_data,
    name: `Owner of ${id}`,
  })
  expect(res.status).toBe(200)
  await linked
  return socket
}

const metric = async (hub: FleetHub, name: string) => {
  const res = await fetch(`${hub.url}/metrics`, {
    headers: { Authorization: `Bearer ${'test-token-0123456789abcdef'}` },
  })
  const line = (await res.text()).split('\n').find((l) => l.startsWith(name))
  return line === undefined ? undefined : Number(line.split(' ').at(-1))
}

describe('a fleet of hubs on Redis', () => {
  it('rooms span hubs: a client on B sees the QR rotation and the link of a session A owns', async () => {
    const { a, b, c } = await fleet({ QR_TTL_FIRST_MS: '1500', QR_TTL_MS: '1500' })
    const onA = await fleetClient(a, sockets)
    expect(await onA.emitWithAck('get_qr', { session_id: 'shared' })).toMatchObject({ ok: true })
    await eventually(async () => expect(await ownedBy(b)).toMatchObject({ A: 1, B: 0, C: 0 }))

    const onB = await fleetClient(b, sockets)
    const codes = collect<QrCodeEvent>(onB, 'qr_code')
    const ack = await onB.emitWithAck('subscribe', { session_id: 'shared' })
    // Pending while A's render thread draws the first code; the code itself follows as an event.
    expect(ack).toMatchObject({ ok: true, status: expect.stringMatching(/^(pending|qr_ready)$/) })
    // The live code is replayed from A, then A's rotation reaches B's client.
    await eventually(async () => expect(codes.map((q) => q.attempt)).toEqual([1, 2]), 5000)

    const linked = nextEvent(onB, 'authenticated')
    const scan = await c.post('/api/sessions/shared/simulate-scan', {
      qr_data: codes.at(-1)!.qr_data,
    })
    expect(scan.status).toBe(200)
    expect(await linked).toMatchObject({ session_id: 'shared' })
  })

  it('forwards every command to the owner and answers with its result', async () => {
    const { a, b, c } = await fleet({ HEALTH_SILENCE_MS: '400' })
    const onA = await linkVia(a, 'shop', c)
    const onB = await fleetClient(b, sockets)
    expect(await onB.emitWithAck('subscribe', { session_id: 'shop' })).toMatchObject({
      ok: true,
      status: 'authenticated',
    })
    expect(await onB.emitWithAck('get_status', { session_id: 'shop' })).toMatchObject({
      ok: true,
      status: 'authenticated',
      user: { name: 'Owner of shop' },
    })
    const timeline = await onB.emitWithAck('get_timeline', { session_id: 'shop' })
    expect(timeline.events.map((e: { event: string }) => e.event)).toEqual(['linked'])

    const sent = await onB.emitWithAck('send_message', {
      session_id: 'shop',
      to: '+34600111222',
      text: 'from B',
    })
    expect(sent).toMatchObject({ ok: true, session_id: 'shop', message_id: expect.any(String) })

    const incoming = nextEvent<MessageEvent>(onA, 'message')
    const delivered = await b.post('/api/sessions/shop/simulate-message', {
      from: '+34600999888',
      text: 'to A, via B',
    })
    expect(delivered.status).toBe(200)
    expect(await incoming).toMatchObject({ text: 'to A, via B' })

    const degraded = nextEvent<StatusEvent>(onB, 'status', (s) => s.health === 'degraded')
    expect((await c.post('/api/sessions/shop/simulate-silence', { silent: true })).status).toBe(200)
    await degraded
    expect((await c.post('/api/sessions/shop/simulate-silence', { silent: false })).status).toBe(
      200,
    )

    const ended = nextEvent<DisconnectedEvent>(onB, 'disconnected')
    expect(await onB.emitWithAck('disconnect_whatsapp', { session_id: 'shop' })).toMatchObject({
      ok: true,
      status: 'disconnected',
      reason: 'logout',
    })
    expect(await ended).toMatchObject({ reason: 'logout' })

    const list = await (await fleetClient(c, sockets)).emitWithAck('list_sessions', {})
    expect(list.sessions.map((s: StatusEvent) => [s.session_id, s.status])).toEqual([
      ['shop', 'disconnected'],
    ])
    expect(await onB.emitWithAck('get_status', { session_id: 'nobody' })).toMatchObject({
      ok: false,
      error: { code: 'unknown_session' },
    })
    // Other hubs' client counts arrive with their heartbeats.
    const stats = await eventually(async () => {
      const body = await b.get<StatsBody>('/stats')
      expect(body).toMatchObject({ clients: 3, sessions: { total: 1, disconnected: 1 } })
      return body
    })
    expect(stats.fleet).toMatchObject({ instance: 'B', redis: 'ok' })
    expect(await metric(b, 'wa_link_hub_fleet_instances{instance="B"}')).toBe(3)
    expect(
      await metric(
        b,
        'wa_link_hub_fleet_forwarded_total{method="sendMessage",outcome="ok",instance="B"}',
      ),
    ).toBe(1)
  })

  it('places new sessions on the hub that owns the fewest', async () => {
    const { a } = await fleet({ MAX_PENDING_PER_CLIENT: '100' })
    const onA = await fleetClient(a, sockets)
    for (let i = 0; i < 6; i++) {
      expect(await onA.emitWithAck('get_qr', { session_id: `spread-${i}` })).toMatchObject({
        ok: true,
      })
      await sleep(150)
    }
    await eventually(async () => expect(await ownedBy(a)).toEqual({ A: 2, B: 2, C: 2 }))
  })

  it('fails over after kill -9 of the owner: another hub resumes the account without a scan', async () => {
    const { a, b, c } = await fleet({ MAX_PENDING_PER_CLIENT: '10' })
    const onA = await linkVia(a, 'survivor')
    // B and C get a session each, so the next one is A's again (ties stay where they are asked):
    // a second session of A's, still waiting for a scan when A dies.
    for (const id of ['filler-1', 'filler-2', 'unscanned']) {
      expect(await onA.emitWithAck('get_qr', { session_id: id })).toMatchObject({ ok: true })
      await sleep(150)
    }
    await eventually(async () => expect(await ownedBy(b)).toEqual({ A: 2, B: 1, C: 1 }))
    const onB = await fleetClient(b, sockets)
    await onB.emitWithAck('subscribe', { session_id: 'survivor' })
    await onB.emitWithAck('subscribe', { session_id: 'unscanned' })
    const statuses = collect<StatusEvent>(onB, 'status')
    const ended = nextEvent<DisconnectedEvent>(
      onB,
      'disconnected',
      (d) => d.session_id === 'unscanned',
      2000 + 5000,
    )
    const codes = collect(onB, 'qr_code')
    let disconnected = false
    onB.on('disconnect', () => (disconnected = true))

    const killedAt = Date.now()
    a.child.kill('SIGKILL')
    await a.exited
    const back = await nextEvent<StatusEvent>(
      onB,
      'status',
      (s) => s.session_id === 'survivor' && s.status === 'authenticated' && !s.reconnecting,
      2000 + 5000,
    )
    expect(Date.now() - killedAt).toBeLessThan(2000 + 5000)
    expect(back.user).toMatchObject({ name: 'Owner of survivor' })
    expect(statuses.some((s) => s.session_id === 'survivor' && s.reconnecting)).toBe(true)
    expect(codes).toEqual([]) // no new scan
    expect(disconnected).toBe(false)
    await eventually(async () => {
      const owned = await ownedBy(c)
      expect(owned.A).toBeUndefined()
      // The fillers, and the linked account; the unscanned link is gone.
      expect((owned.B ?? 0) + (owned.C ?? 0)).toBe(3)
    })
    // The unscanned link ended with its hub; its watchers heard so.
    expect(await ended).toMatchObject({
      reason: 'failed',
      message: expect.stringMatching(/new code/),
    })
    const onC = await fleetClient(c, sockets)
    expect(await onC.emitWithAck('get_status', { session_id: 'unscanned' })).toMatchObject({
      ok: false,
      error: { code: 'unknown_session' },
    })
    expect(
      await onC.emitWithAck('send_message', {
        session_id: 'survivor',
        to: '+34600111222',
        text: 'hi',
      }),
    ).toMatchObject({ ok: true })
  })

  it('hands its sessions over on SIGTERM, well before their leases would run out', async () => {
    const { a, b } = await fleet({ LEASE_TTL_MS: '8000' })
    await linkVia(a, 'handed')
    const onB = await fleetClient(b, sockets)
    await onB.emitWithAck('subscribe', { session_id: 'handed' })
    const back = nextEvent<StatusEvent>(
      onB,
      'status',
      (s) => s.status === 'authenticated' && !s.reconnecting,
      6000,
    )
    const stoppedAt = Date.now()
    expect(await a.stop()).toBe(0)
    await back
    expect(Date.now() - stoppedAt).toBeLessThan(4000)
    const owned = await ownedBy(b)
    expect((owned.B ?? 0) + (owned.C ?? 0)).toBe(1)
  })

  it('fences an owner paused past its lease: once resumed it does not act for the session', async () => {
    const { a, b } = await fleet({ HEALTH_SILENCE_MS: '3000' })
    await linkVia(a, 'fenced')
    const onB = await fleetClient(b, sockets)
    await onB.emitWithAck('subscribe', { session_id: 'fenced' })
    const statuses = collect<StatusEvent>(onB, 'status')
    // A's WhatsApp goes quiet: A would report "degraded" after 3 s...
    expect((await a.post('/api/sessions/fenced/simulate-silence', { silent: true })).status).toBe(
      200,
    )
    // ...but A is paused first, past its 2 s lease. Another hub takes the session over.
    a.child.kill('SIGSTOP')
    await nextEvent<StatusEvent>(
      onB,
      'status',
      (s) => s.status === 'authenticated' && !s.reconnecting,
      7000,
    )
    await sleep(1500)
    const seenBeforeResume = statuses.length
    a.child.kill('SIGCONT')
    await sleep(4000) // A's overdue timers fire, its renewal finds the lease gone
    const afterResume = statuses.slice(seenBeforeResume)
    expect(afterResume.filter((s) => s.health === 'degraded')).toEqual([])
    expect(afterResume.filter((s) => s.status !== 'authenticated')).toEqual([])
    expect(await onB.emitWithAck('get_status', { session_id: 'fenced' })).toMatchObject({
      status: 'authenticated',
      health: 'ok',
    })
    expect(await metric(a, 'wa_link_hub_fleet_leases_lost_total{instance="A"}')).toBe(1)
    expect(await metric(a, 'wa_link_hub_fleet_owned_sessions{instance="A"}')).toBe(0)
  })

  it('keeps serving what it owns while Redis is down, says degraded, and recovers by itself', async () => {
    const { a, b } = await fleet({}, { persist: true })
    const onA = await linkVia(a, 'steady')
    await redis!.stop()
    await eventually(async () =>
      expect(await a.get('/health')).toMatchObject({ status: 'degraded', redis: 'degraded' }),
    )
    // /stats still answers, with what this hub knows, and says Redis is away.
    const stats = await fetch(`${a.url}/stats`, {
      headers: { Authorization: 'Bearer test-token-0123456789abcdef' },
    })
    expect(stats.status).toBe(200)
    expect(await stats.json()).toMatchObject({
      sessions: { authenticated: 1 },
      fleet: { instance: 'A', redis: 'degraded' },
    })
    // A command for a session another hub would have to answer: 503 with Retry-After.
    const elsewhere = await b.post('/api/sessions/steady/simulate-message', {
      from: '+34600999888',
      text: 'hello',
    })
    expect(elsewhere.status).toBe(503)
    expect(elsewhere.headers.get('retry-after')).toBe('5')
    expect(await elsewhere.json()).toMatchObject({ code: 'unavailable' })
    // The owner goes on: a message out, the status, the timeline.
    expect(
      await onA.emitWithAck('send_message', {
        session_id: 'steady',
        to: '+34600111222',
        text: 'x',
      }),
    ).toMatchObject({ ok: true })
    expect(await onA.emitWithAck('get_status', { session_id: 'steady' })).toMatchObject({
      status: 'authenticated',
    })
    const onB = await fleetClient(b, sockets)
    expect(
      await onB.emitWithAck('send_message', {
        session_id: 'steady',
        to: '+34600111222',
        text: 'y',
      }),
    ).toMatchObject({ ok: false, error: { code: 'unavailable' } })

    await redis!.start()
    await eventually(async () => {
      expect(await a.get('/health')).toMatchObject({ status: 'ok', redis: 'ok' })
      expect(await b.get('/health')).toMatchObject({ status: 'ok', redis: 'ok' })
    }, 15_000)
    await eventually(async () => {
      const answer = await onB.emitWithAck('send_message', {
        session_id: 'steady',
        to: '+34600111222',
        text: 'z',
      })
      expect(answer).toMatchObject({ ok: true })
    })
    expect(await ownedBy(b)).toMatchObject({ A: 1 })
  })
})
