/**
 * The fan-out reference: a bare Socket.IO server with nothing of the hub in it (no token, no
 * sessions, no QR work), in its own process like the hub. Every connection joins one room; on
 * request it emits a given `qr_code` payload to that room, stamped with a fresh `issued_at`. The
 * benchmark drives it with the same subscribers as the hub, so the two figures compare directly.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Server } from 'socket.io'

type Request = { type: 'emit'; payload: Record<string, unknown> } | { type: 'stop' }

const http = createServer()
const io = new Server(http, { transports: ['websocket'], serveClient: false })
io.on('connection', (socket) => void socket.join('room'))
http.listen(0, '127.0.0.1', () => {
  const { port } = http.address() as AddressInfo
  process.send?.({ type: 'ready', url: `http://127.0.0.1:${port}/` })
})

process.on('message', (request: Request) => {
  if (request.type === 'stop') {
    void io.close(() => process.exit(0))
    return
  }
  io.to('room').emit('qr_code', { ...request.payload, issued_at: new Date().toISOString() })
})
