/**
 * The reference server: bare Socket.IO with nothing of the hub in it (no token check, no sessions,
 * no QR work, no logging, no metrics), in its own process and started like the hub (plain Node, a
 * port from BARE_PORT, `/health` when ready). It answers `get_qr` with the hub's own `qr_code`
 * payload (BARE_QR_PAYLOAD, captured from a hub by the benchmark) for the asked session, and puts
 * every client in one room that it fans a `qr_code` out to when the benchmark says so (IPC).
 * The benchmark drives it with the same clients as the hub, so the two rows compare directly.
 *
 * Plain JavaScript: no TypeScript loader inside a measured process.
 */
import { createServer } from 'node:http'
import { Server } from 'socket.io'

const payload = JSON.parse(process.env.BARE_QR_PAYLOAD ?? '{}')

const http = createServer((req, res) => {
  const body =
    req.url === '/stats'
      ? { clients: io.engine.clientsCount, sessions: { total: 0 } }
      : { status: 'ok' }
  res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(body))
})
// The hub's Socket.IO options (server/socket.ts), so the difference is the hub's own work.
const io = new Server(http, {
  path: '/socket.io',
  transports: ['websocket', 'polling'],
  maxHttpBufferSize: 64 * 1024,
  cors: { origin: '*' },
  serveClient: false,
})
io.on('connection', (socket) => {
  void socket.join('room')
  socket.on('get_qr', (request) => {
    socket.emit('qr_code', { ...payload, session_id: request?.session_id ?? payload.session_id })
  })
})
http.listen(Number(process.env.BARE_PORT ?? 0), '127.0.0.1')

process.on('message', (request) => {
  if (request?.type === 'emit') {
    io.to('room').emit('qr_code', { ...request.payload, issued_at: new Date().toISOString() })
  }
})
process.once('SIGTERM', () => {
  io.close()
  process.channel?.unref()
})
