import type { Socket as NetSocket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { collect, sleep, startTestHub, type TestHub } from '../helpers/hub'
import { openTcp, parseResponse } from '../helpers/raw-http'

let t: TestHub
afterEach(async () => {
  await t.close(true)
})

/**
 * A client that sends `start`, then `drip` one byte at a time every 50 ms for as long as the hub
 * keeps the connection open. Resolves with what the hub answered when it closed it.
 */
async function dripping(start: string, drip: string): Promise<Buffer> {
  const socket = await openTcp(t.info.url)
  const received: Buffer[] = []
  socket.on('data', (chunk: Buffer) => received.push(chunk))
  socket.on('error', () => {})
  socket.write(start)
  let at = 0
  const timer = setInterval(() => {
    if (!socket.destroyed) socket.write(drip[at++ % drip.length]!)
  }, 50)
  await new Promise((resolve) => socket.once('close', resolve))
  clearInterval(timer)
  return Buffer.concat(received)
}

async function silent(): Promise<{ socket: NetSocket; closed: Promise<Buffer> }> {
  const socket = await openTcp(t.info.url)
  const received: Buffer[] = []
  socket.on('data', (chunk: Buffer) => received.push(chunk))
  socket.on('error', () => {})
  const closed = new Promise<Buffer>((resolve) =>
    socket.once('close', () => resolve(Buffer.concat(received))),
  )
  return { socket, closed }
}

async function metric(name: string): Promise<number> {
  const text = await (await t.fetch('/metrics')).text()
  const line = text.split('\n').find((l) => l.startsWith(`${name} `))
  if (!line) throw new Error(`no ${name} in /metrics`)
  return Number(line.slice(name.length + 1))
}

describe('slow and silent HTTP clients', () => {
  it('closes connections dripping header bytes after HTTP_HEADERS_TIMEOUT_MS, with a 408', async () => {
    t = await startTestHub({ HTTP_HEADERS_TIMEOUT_MS: '500', HTTP_REQUEST_TIMEOUT_MS: '1000' })
    const dripped = Array.from({ length: 40 }, () =>
      dripping('GET / HTTP/1.1\r\nHost: x\r\n', 'X-Slow: loris\r\n'),
    )
    // Bytes never stop coming, so no idle timeout could end these.
    for (const answer of await Promise.all(dripped)) {
      const response = parseResponse(answer)
      expect(response.status).toBe(408)
      expect(JSON.parse(response.body)).toMatchObject({ code: 'request_timeout' })
    }
    expect(
      await metric('wa_link_hub_http_client_errors_total{code="request_timeout"}'),
    ).toBeGreaterThanOrEqual(40)
    expect((await t.fetch('/health')).status).toBe(200)
  })

  it('closes a connection that never sends a byte', async () => {
    t = await startTestHub({ HTTP_HEADERS_TIMEOUT_MS: '500', HTTP_REQUEST_TIMEOUT_MS: '1000' })
    const { closed } = await silent()
    expect(parseResponse(await closed).status).toBe(408)
  })

  it('closes a request whose body drips slower than HTTP_REQUEST_TIMEOUT_MS allows', async () => {
    t = await startTestHub({ HTTP_HEADERS_TIMEOUT_MS: '500', HTTP_REQUEST_TIMEOUT_MS: '1000' })
    const answer = await dripping(
      `POST /api/sessions/x/simulate-scan HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${t.info.token}\r\n` +
        'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n',
      '{',
    )
    const response = parseResponse(answer)
    expect(response.status).toBe(408)
    expect(JSON.parse(response.body)).toMatchObject({ code: 'request_timeout' })
  })

  it('closes an idle keep-alive connection after HTTP_KEEP_ALIVE_TIMEOUT_MS', async () => {
    t = await startTestHub({ HTTP_KEEP_ALIVE_TIMEOUT_MS: '2000' })
    const { socket, closed } = await silent()
    socket.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n')
    const answer = parseResponse(await closed)
    expect(answer.status).toBe(200)
    // Announced to the client (in whole seconds), then held to.
    expect(answer.headers['keep-alive']).toBe('timeout=2')
  })

  it('closes a socket idle for HTTP_IDLE_TIMEOUT_MS, but not websockets or long-polls', async () => {
    t = await startTestHub({
      HTTP_HEADERS_TIMEOUT_MS: '60000',
      HTTP_REQUEST_TIMEOUT_MS: '60000',
      HTTP_IDLE_TIMEOUT_MS: '300',
    })
    const websocket = await t.connect({ transports: ['websocket'] })
    const polling = await t.connect({ transports: ['polling'] })
    const drops = [...collect(websocket, 'disconnect'), ...collect(polling, 'disconnect')]
    // Half a request, then nothing: only the idle timeout can end it.
    const { socket, closed } = await silent()
    socket.write('GET /health HTTP/1.1\r\n')
    expect(parseResponse(await closed).status).toBe(0)

    await sleep(1000)
    expect(drops).toEqual([])
    for (const client of [websocket, polling]) {
      expect(await client.timeout(5000).emitWithAck('list_sessions', {})).toMatchObject({
        ok: true,
      })
    }
    expect(polling.io.engine.transport.name).toBe('polling')
  })
})
