import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'

/**
 * A JSON error written straight to a connection no HTTP response object owns (refused upgrades,
 * requests Node's parser gave up on), then the connection is closed, as Node does for its own.
 */
export function answerRaw(socket: Duplex, status: number, code: string, message: string): void {
  const body = JSON.stringify({ code, message })
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n` +
        'Content-Type: application/json; charset=utf-8\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        'Cache-Control: no-store\r\nConnection: close\r\n\r\n' +
        body,
    )
  }
  socket.destroy()
}
