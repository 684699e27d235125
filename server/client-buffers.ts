import type { EventEmitter } from 'node:events'
import type { Server as EngineServer, Socket as EngineSocket } from 'engine.io'
import type { ClientBuffers } from './metrics'

const QUEUED = Symbol('queuedBytes')

/**
 * What this file reads of an Engine.IO connection, checked against engine.io 6.6's source
 * (lib/socket.ts, lib/transports/websocket.ts, lib/transports/polling.ts):
 *
 * - `sendPacket()` emits `packetCreate`, pushes the packet to `writeBuffer`, then flushes the whole
 *   buffer to the transport only while the transport is writable. The server's `flush` event says
 *   the buffer was handed over (and emptied).
 * - The websocket transport is writable again only when `ws` has written the last frame to the
 *   TCP socket; what it holds until then is the `ws` socket's `bufferedAmount` (its sender queue
 *   plus the net.Socket's write buffer).
 * - The polling transport holds nothing: each poll is answered with the whole buffer and ended,
 *   and it is writable again only on the client's next poll. A client that stops polling leaves
 *   everything in `writeBuffer`.
 *
 * So a client that stops reading grows `writeBuffer` plus, on websocket, `bufferedAmount`.
 */
interface WatchedConnection extends EventEmitter {
  readonly id: string
  readonly remoteAddress: string
  readonly transport: { readonly name: string; readonly socket?: WsSocket }
  close(discard?: boolean): void
  [QUEUED]: number
}
interface WsSocket {
  readonly bufferedAmount: number
  terminate(): void
}

/** Bytes a packet adds to a buffer: its string length or byte length (close to its memory). */
function packetBytes(packet: { data?: unknown }): number {
  const { data } = packet
  if (typeof data === 'string') return data.length
  if (data !== null && typeof data === 'object' && 'byteLength' in data) {
    return (data as ArrayBufferView).byteLength
  }
  return 1
}

function transportBytes(connection: WatchedConnection): number {
  const { transport } = connection
  return transport.name === 'websocket' ? (transport.socket?.bufferedAmount ?? 0) : 0
}

export interface ClientBufferCap {
  /** What all clients, and the fullest one, hold now; read when `/metrics` is scraped. */
  measure(): ClientBuffers
}

/**
 * Caps what the hub holds for each client: when the bytes queued for a client (Engine.IO's
 * `writeBuffer`, tracked incrementally: O(1) per packet) plus what its websocket still buffers
 * pass `maxBytes`, the client is cut off on the next tick, once. The check runs as each packet is
 * queued, so the cap holds to within one packet, with no timer per connection.
 */
export function capClientBuffers(
  engine: EngineServer,
  maxBytes: number,
  onOverflow: (client: { id: string; address: string; bufferedBytes: number }) => void,
): ClientBufferCap {
  const condemned = new WeakSet<WatchedConnection>()

  const cut = (connection: WatchedConnection) => {
    const socket =
      connection.transport.name === 'websocket' ? connection.transport.socket : undefined
    // Discarding drops the queued packets instead of waiting for a drain that will not come;
    // terminating frees the websocket's unsent bytes now rather than after a close handshake the
    // client will never read.
    connection.close(true)
    socket?.terminate()
  }

  function onPacket(this: WatchedConnection, packet: { data?: unknown }) {
    const buffered = (this[QUEUED] += packetBytes(packet)) + transportBytes(this)
    if (buffered <= maxBytes || condemned.has(this)) return
    condemned.add(this)
    onOverflow({ id: this.id, address: this.remoteAddress, bufferedBytes: buffered })
    // Not from inside engine.io's send path: the packet being queued is still on its way in.
    process.nextTick(cut, this)
  }

  engine.on('connection', (socket: EngineSocket) => {
    const connection = socket as unknown as WatchedConnection
    connection[QUEUED] = 0
    connection.on('packetCreate', onPacket)
  })
  engine.on('flush', (socket: EngineSocket) => {
    ;(socket as unknown as WatchedConnection)[QUEUED] = 0
  })

  return {
    measure() {
      let total = 0
      let max = 0
      // `clients` is in engine.io's README; its typings only mark it protected.
      const { clients } = engine as unknown as { clients: Record<string, EngineSocket> }
      for (const socket of Object.values(clients)) {
        const connection = socket as unknown as WatchedConnection
        const bytes = (connection[QUEUED] ?? 0) + transportBytes(connection)
        total += bytes
        if (bytes > max) max = bytes
      }
      return { total, max }
    },
  }
}
