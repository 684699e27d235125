import { io, type Socket } from 'socket.io-client'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { QrCodeEvent } from '../../server/protocol'
import { nextEvent, startTestHub, type TestHub } from '../helpers/hub'

let t: TestHub
const opened: Socket[] = []
beforeEach(async () => {
  t = await startTestHub()
})
afterEach(async () => {
  for (const socket of opened.splice(0)) socket.close()
  await t.close(true)
})

const track = (socket: Socket) => {
  opened.push(socket)
  return socket
}

describe('Socket.IO transports', () => {
  it("runs docs/protocol.md's client example verbatim: default transports, polling first", async () => {
    const url = t.info.url
    const process = { env: { TOKEN: t.info.token } }
    const printed: string[] = []
    const console = { log: (text: string) => printed.push(text) }

    // From docs/protocol.md, unchanged:
    const socket = io(url, { auth: { token: process.env.TOKEN } })
    socket.on('qr_code', (qr) => console.log(qr.qr_data))
    const ack = await socket.emitWithAck('get_qr', { session_id: 'shop-1' })

    track(socket)
    expect(ack).toEqual({ ok: true, session_id: 'shop-1', status: 'qr_ready' })
    await expect.poll(() => printed.length).toBe(1)
    expect(printed[0]).toMatch(/^2@/)
  })

  it('answers an Engine.IO polling handshake itself, not with the HTTP API', async () => {
    const res = await fetch(new URL('/socket.io/?EIO=4&transport=polling', t.info.url))
    expect(res.status).toBe(200)
    const body = await res.text()
    expect(body).toMatch(/^0\{"sid":"[^"]+","upgrades":\["websocket"\]/)
  })

  it.each([
    ['polling only', ['polling']],
    ['websocket only', ['websocket']],
  ] as const)('serves a client on %s', async (_name, transports) => {
    const socket = track(
      io(t.info.url, { auth: { token: t.info.token }, transports: [...transports] }),
    )
    const qr = nextEvent<QrCodeEvent>(socket, 'qr_code')
    expect(await socket.emitWithAck('get_qr', { session_id: 'only' })).toMatchObject({ ok: true })
    expect((await qr).session_id).toBe('only')
    expect(socket.io.engine.transport.name).toBe(transports[0])
  })

  it('starts on polling, upgrades to websocket, and keeps serving across the upgrade', async () => {
    const socket = track(io(t.info.url, { auth: { token: t.info.token } }))
    const upgraded = new Promise<string>((resolve) =>
      socket.io.on('open', () => {
        expect(socket.io.engine.transport.name).toBe('polling')
        socket.io.engine.once('upgrade', (transport) => resolve(transport.name))
      }),
    )
    await nextEvent(socket, 'connected')
    expect(await upgraded).toBe('websocket')
    const qr = nextEvent<QrCodeEvent>(socket, 'qr_code')
    expect(await socket.emitWithAck('get_qr', { session_id: 'upgraded' })).toMatchObject({
      ok: true,
    })
    expect((await qr).session_id).toBe('upgraded')
  })
})
