import type { Socket as NetSocket } from 'node:net'
import { WebSocket } from 'ws'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { startTestHub, TEST_TOKEN, type TestHub } from '../helpers/hub'

const LIMIT = 256 * 1024
const SESSIONS = 100

let t: TestHub
beforeEach(async () => {
  // The attack stays inside the rate limit in the report; here the limit is out of the way so the
  // test needs no patience.
  t = await startTestHub({
    MAX_CLIENT_BUFFER_BYTES: String(LIMIT),
    RATE_LIMIT_PER_S: '100000',
    RATE_LIMIT_BURST: '100000',
    MAX_PENDING_PER_CLIENT: '10000',
  })
  // Enough sessions that each list_sessions ack is tens of kilobytes.
  const socket = await t.connect({ transports: ['websocket'] })
  for (let i = 0; i < SESSIONS; i++) {
    await socket.emitWithAck('get_qr', { session_id: `buffered-${String(i).padStart(3, '0')}` })
  }
  socket.close()
})
afterEach(async () => {
  await t.close(true)
})

async function metric(pattern: RegExp): Promise<number> {
  const text = await (await t.fetch('/metrics')).text()
  const match = pattern.exec(text)
  if (!match?.[1]) throw new Error(`no ${pattern} in /metrics`)
  return Number(match[1])
}
const dropped = () => metric(/^wa_link_hub_clients_dropped_total\{reason="buffer_full"\} (\d+)$/m)
const heldForOne = () => metric(/^wa_link_hub_client_buffer_bytes\{clients="max"\} (\d+)$/m)
const heldForAll = () => metric(/^wa_link_hub_client_buffer_bytes\{clients="all"\} (\d+)$/m)

/** `list_sessions` with ack id `id`, as Socket.IO encodes it. */
const listPacket = (id: number) => `42${id}["list_sessions",{"limit":500}]`

describe('a client that does not read what the hub sends', () => {
  it('over websocket: the hub holds at most MAX_CLIENT_BUFFER_BYTES for it, then cuts it off', async () => {
    const ws = new WebSocket(
      `${t.info.url.replace('http', 'ws')}socket.io/?EIO=4&transport=websocket`,
    )
    const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()))
    await new Promise<void>((resolve) => ws.once('open', () => resolve()))
    const connected = new Promise<void>((resolve) =>
      ws.on('message', (data) => {
        if (data.toString().startsWith('40{')) resolve()
      }),
    )
    ws.send(`40${JSON.stringify({ token: TEST_TOKEN })}`)
    await connected

    // It keeps asking and stops reading: its TCP socket is paused, so the kernel's buffers fill
    // first, then the hub's.
    const tcp = (ws as unknown as { _socket: NetSocket })._socket
    tcp.pause()
    let id = 0
    const samples: number[] = []
    while ((await dropped()) === 0) {
      expect(id, 'the hub never cut the client off').toBeLessThan(20_000)
      for (let i = 0; i < 2; i++) ws.send(listPacket(id++))
      samples.push(await heldForOne())
    }
    // Never more than the limit plus the one ack that crossed it.
    expect(Math.max(...samples)).toBeLessThanOrEqual(LIMIT + 64 * 1024)
    expect(samples.some((bytes) => bytes > 0)).toBe(true)
    tcp.resume()
    await closed
    expect(await heldForAll()).toBe(0)

    // Everybody else is still served.
    const other = await t.connect()
    const page = await other.emitWithAck('list_sessions', { limit: 500 })
    expect(page.sessions).toHaveLength(SESSIONS)
  })

  it('over polling: a client that never polls is cut off, and its Engine.IO session is gone', async () => {
    const base = `${t.info.url}socket.io/?EIO=4&transport=polling`
    const handshake = await (await fetch(base)).text()
    const sid = (JSON.parse(handshake.slice(1)) as { sid: string }).sid
    const send = (body: string) =>
      fetch(`${base}&sid=${sid}`, { method: 'POST', body }).then(
        (res) => res.status,
        () => 0,
      )
    expect(await send(`40${JSON.stringify({ token: TEST_TOKEN })}`)).toBe(200)

    let id = 0
    while ((await dropped()) === 0) {
      expect(id, 'the hub never cut the client off').toBeLessThan(20_000)
      const batch = Array.from({ length: 20 }, () => listPacket(id++)).join('\x1e')
      await send(batch)
      expect(await heldForOne()).toBeLessThanOrEqual(LIMIT + 64 * 1024)
    }
    expect(await send(listPacket(id))).toBe(400)
    expect(await heldForAll()).toBe(0)
  })
})
