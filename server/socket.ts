import type { Server as HttpServer } from 'node:http'
import { Server, type Socket } from 'socket.io'
import type { Config } from './config'
import { HubError } from './errors'
import type { Logger } from './logger'
import type { HubMetrics } from './metrics'
import {
  ClientEvent,
  clientPayloadSchemas,
  describeZodError,
  SESSION_ID_PATTERN,
  type ClientEventName,
  type ClientPayload,
  type ErrorCode,
  type ProviderName,
  type ServerEvents,
} from './protocol'
import type { Broadcaster, SessionManager } from './sessions/session-manager'
import { tokenMatches } from './token'
import { fullBucket, refill, type TokenBucket } from './token-bucket'

/** Socket.IO refuses bigger packets and drops the offending connection, nobody else. */
export const MAX_PAYLOAD_BYTES = 64 * 1024

const SESSION_ROOM_PREFIX = 'session:'
const roomOf = (sessionId: string) => `${SESSION_ROOM_PREFIX}${sessionId}`

const KNOWN_EVENTS = new Set<string>(Object.values(ClientEvent))

type AckFn = (response: unknown) => void

/** Per-socket state: the rate-limit bucket, two numbers, kept small on purpose. */
type SocketData = TokenBucket

export type HubSocketServer = Server<
  Record<string, never>,
  ServerEvents,
  Record<string, never>,
  SocketData
>
type HubSocket = Socket<Record<string, never>, ServerEvents, Record<string, never>, SocketData>

export function createSocketServer(httpServer: HttpServer, token: string): HubSocketServer {
  const io: HubSocketServer = new Server(httpServer, {
    path: '/socket.io',
    transports: ['websocket', 'polling'],
    maxHttpBufferSize: MAX_PAYLOAD_BYTES,
    // The token, not the origin, is the access control: any page or program holding it may connect.
    cors: { origin: '*' },
    serveClient: false,
  })
  io.use((socket, next) => {
    const { auth, query } = socket.handshake
    const given = typeof auth?.token === 'string' ? auth.token : query.token
    if (typeof given === 'string' && tokenMatches(given, token)) next()
    else next(new Error('unauthorized'))
  })
  return io
}

export function createBroadcaster(io: HubSocketServer, metrics: HubMetrics): Broadcaster {
  return {
    toSession(sessionId, event, payload) {
      // Room fan-out: Socket.IO encodes the packet once for every member of the room.
      ;(io.to(roomOf(sessionId)).emit as (e: string, p: unknown) => boolean)(event, payload)
      metrics.eventOut(event)
    },
    subscriberCount(sessionId) {
      return io.sockets.adapter.rooms.get(roomOf(sessionId))?.size ?? 0
    },
  }
}

export interface SocketHandlerOptions {
  config: Config
  logger: Logger
  metrics: HubMetrics
  manager: SessionManager
  provider: ProviderName
  version: string
  onClientsChanged: (count: number) => void
}

type Handler<E extends ClientEventName> = (
  payload: ClientPayload<E>,
  socket: HubSocket,
) => Promise<object> | object

/** Wires the protocol's client events to the session manager. */
export function registerSocketHandlers(io: HubSocketServer, options: SocketHandlerOptions): void {
  const { config, logger, metrics, manager } = options
  const join = (socket: HubSocket) => (sessionId: string) => void socket.join(roomOf(sessionId))

  const handlers: { [E in ClientEventName]: Handler<E> } = {
    async get_qr(payload, socket) {
      const { status, replay } = await manager.requestLink(
        payload.session_id,
        payload.phone_number,
        join(socket),
        socket.id,
      )
      if (replay) emitTo(socket, replay.event, replay.payload)
      return { session_id: status.session_id, status: status.status }
    },
    get_status(payload, socket) {
      const status = manager.status(payload.session_id)
      emitTo(socket, 'status', status)
      return status
    },
    async disconnect_whatsapp(payload) {
      return manager.disconnect(payload.session_id)
    },
    subscribe(payload, socket) {
      const { status, replay } = manager.subscribe(payload.session_id, join(socket))
      emitTo(socket, 'status', status)
      if (replay) emitTo(socket, replay.event, replay.payload)
      return status
    },
    list_sessions() {
      return { sessions: manager.list() }
    },
    get_timeline(payload) {
      return { session_id: payload.session_id, events: manager.timeline(payload.session_id) }
    },
    async send_message(payload) {
      const messageId = await manager.sendMessage(payload.session_id, payload.to, payload.text)
      return { session_id: payload.session_id, message_id: messageId }
    },
  }

  const emitTo = <E extends keyof ServerEvents>(
    socket: HubSocket,
    event: E,
    payload: ServerEvents[E],
  ) => {
    ;(socket.emit as (e: string, p: unknown) => boolean)(event, payload)
    metrics.eventOut(event)
  }

  const fail = (
    socket: HubSocket,
    ack: AckFn | undefined,
    code: ErrorCode,
    message: string,
    event?: string,
    sessionId?: string,
  ) => {
    metrics.error(code)
    emitTo(socket, 'error', {
      type: 'error',
      code,
      message,
      ...(event ? { event } : {}),
      ...(sessionId ? { session_id: sessionId } : {}),
    })
    ack?.({ ok: false, error: { code, message } })
  }

  io.on('connection', (socket) => {
    Object.assign(socket.data, fullBucket(config.rateLimitBurst))
    const clients = io.sockets.sockets.size
    logger.info('Client connected', {
      client_id: socket.id,
      address: socket.handshake.address,
      transport: socket.conn.transport.name,
      clients,
    })
    options.onClientsChanged(clients)
    emitTo(socket, 'connected', {
      type: 'connected',
      client_id: socket.id,
      server_version: options.version,
      provider: options.provider,
      message: 'Connected to WA Link Hub',
    })

    // Every packet passes here first: the rate limit and unknown event names.
    socket.use(([event, ...args], next) => {
      const ack = typeof args.at(-1) === 'function' ? (args.at(-1) as AckFn) : undefined
      if (!takeToken(socket.data, config)) {
        fail(socket, ack, 'rate_limited', 'Too many events; slow down', event)
        return
      }
      if (!KNOWN_EVENTS.has(event)) {
        metrics.eventIn('unknown')
        fail(
          socket,
          ack,
          'invalid_payload',
          `unknown event "${String(event).slice(0, 64)}"`,
          undefined,
        )
        return
      }
      next()
    })

    for (const event of Object.values(ClientEvent)) {
      const schema = clientPayloadSchemas[event]
      const handler = handlers[event] as Handler<ClientEventName>
      socket.on(event, async (...args: unknown[]) => {
        metrics.eventIn(event)
        const ack = typeof args.at(-1) === 'function' ? (args.pop() as AckFn) : undefined
        const raw = args[0] === undefined ? {} : args[0]
        const claimedSession = sessionIdOf(raw)
        const parsed = schema.safeParse(raw)
        if (!parsed.success) {
          fail(
            socket,
            ack,
            'invalid_payload',
            describeZodError(parsed.error),
            event,
            claimedSession,
          )
          return
        }
        try {
          const result = await handler(parsed.data as never, socket)
          ack?.({ ok: true, ...result })
        } catch (error) {
          if (error instanceof HubError) {
            fail(socket, ack, error.code, error.message, event, error.sessionId ?? claimedSession)
          } else {
            logger.error('Unexpected error handling an event', {
              event,
              client_id: socket.id,
              error,
            })
            fail(
              socket,
              ack,
              'internal',
              'Internal error; the hub keeps running',
              event,
              claimedSession,
            )
          }
        }
      })
    }

    socket.on('disconnecting', () => {
      for (const room of socket.rooms) {
        if (room.startsWith(SESSION_ROOM_PREFIX))
          manager.touch(room.slice(SESSION_ROOM_PREFIX.length))
      }
    })
    socket.on('disconnect', (reason) => {
      manager.forgetClient(socket.id)
      const count = io.sockets.sockets.size
      logger.info('Client disconnected', { client_id: socket.id, reason, clients: count })
      options.onClientsChanged(count)
    })
  })
}

function takeToken(bucket: TokenBucket, config: Config): boolean {
  refill(bucket, config.rateLimitPerS, config.rateLimitBurst)
  if (bucket.tokens < 1) return false
  bucket.tokens -= 1
  return true
}

function sessionIdOf(raw: unknown): string | undefined {
  if (raw && typeof raw === 'object' && 'session_id' in raw) {
    const value = (raw as { session_id: unknown }).session_id
    if (typeof value === 'string' && SESSION_ID_PATTERN.test(value)) return value
  }
  return undefined
}
