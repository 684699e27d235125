import { Server as EngineServer, type Socket as EngineSocket } from 'engine.io'
import type { Duplex } from 'node:stream'
import { Server, type ServerOptions, type Socket } from 'socket.io'
import { WebSocketServer, type ServerOptions as WsServerOptions } from 'ws'
import type { AuthGuard } from './auth-guard'
import { capClientBuffers, type ClientBufferCap } from './client-buffers'
import type { Config } from './config'
import { HubError } from './errors'
import type { Logger } from './logger'
import type { HubMetrics } from './metrics'
import type { OriginPolicy } from './origins'
import { sessionPage } from './paging'
import { sampledLog } from './sampled-log'
import { answerRaw } from './raw-response'
import { faultFields } from './safety-net'
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
import type { SessionCommands } from './sessions/session-commands'
import type { Broadcaster } from './sessions/session-manager'
import { tokenChecker } from './token'
import { fullBucket, refill, type TokenBucket } from './token-bucket'

/** Socket.IO refuses bigger packets and drops the offending connection, nobody else. */
export const MAX_PAYLOAD_BYTES = 64 * 1024

/** Socket.IO's own path: its Engine.IO server answers every request and upgrade under it. */
export const SOCKET_IO_PATH = '/socket.io/'

/** Engine.IO's defaults, explicit: a healthy long-poll never waits longer than the ping interval. */
const PING_INTERVAL_MS = 25_000
const PING_TIMEOUT_MS = 20_000
/** Idle limit for the TCP socket of a Socket.IO HTTP request (a long-poll waits up to a ping). */
export const SOCKET_IO_REQUEST_IDLE_MS = PING_INTERVAL_MS + PING_TIMEOUT_MS

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

/**
 * The `ws` server Engine.IO upgrades with (its `wsEngine` option; the same `ws` it would use),
 * answering a malformed websocket handshake in JSON like the rest of the hub instead of `ws`'s
 * plain text (`wsClientError` is `ws`'s hook for exactly that).
 */
class JsonRefusingWebSocketServer extends WebSocketServer {
  constructor(options: WsServerOptions) {
    super(options)
    this.on('wsClientError', (error: Error, socket: Duplex) => {
      answerRaw(socket, 400, 'bad_request', error.message)
    })
  }
}

export interface SocketServerOptions {
  token: string
  config: Config
  logger: Logger
  metrics: HubMetrics
  guard: AuthGuard
  origins: OriginPolicy
  /** Rooms across processes (a fleet's Redis adapter); the in-memory adapter otherwise. */
  adapter?: ServerOptions['adapter']
}

export interface SocketServer {
  io: HubSocketServer
  /** Owns `SOCKET_IO_PATH`: the HTTP server hands it those requests and upgrades. */
  engine: EngineServer
  /** Engine.IO connections that have not shown the token yet. */
  unauthenticated(): number
  buffers: ClientBufferCap
}

/**
 * Socket.IO on its own Engine.IO server, not attached to the HTTP server: which listener answers
 * which path is the HTTP server's decision (see http.ts), never the order of registration.
 */
export function createSocketServer(options: SocketServerOptions): SocketServer {
  const { token, config, logger, metrics, guard, origins } = options
  const tokenMatches = tokenChecker(token)
  // Not yet past the token check; a Set so the count is exact and each leaves once.
  const unauthenticated = new Set<EngineSocket>()
  let saturated = false

  const engine = new EngineServer({
    wsEngine: JsonRefusingWebSocketServer,
    transports: ['polling', 'websocket'],
    maxHttpBufferSize: MAX_PAYLOAD_BYTES,
    pingInterval: PING_INTERVAL_MS,
    pingTimeout: PING_TIMEOUT_MS,
    cors:
      config.corsOrigins === '*'
        ? { origin: '*' }
        : (req, callback) => {
            const { origin, host } = req.headers
            callback(null, {
              origin: origin !== undefined && origins.allows(origin, host) ? origin : false,
            })
          },
    // Runs once per new connection (the handshake), before Engine.IO keeps anything for it.
    allowRequest(req, callback) {
      if (!origins.allows(req.headers.origin, req.headers.host)) {
        metrics.connectionRefused('origin')
        callback('origin not allowed (CORS_ORIGINS)', false)
        return
      }
      if (unauthenticated.size >= config.maxUnauthenticated) {
        metrics.connectionRefused('unauthenticated_limit')
        if (!saturated) {
          saturated = true
          logger.warn('Refusing new connections: too many have not shown the token yet', {
            limit: config.maxUnauthenticated,
          })
        }
        callback('too many connections waiting for a token; retry later', false)
        return
      }
      saturated = false
      callback(null, true)
    },
  })
  const io: HubSocketServer = new Server({
    serveClient: false,
    ...(options.adapter ? { adapter: options.adapter } : {}),
    // A connection that has not shown the token by then is closed.
    connectTimeout: config.connectTimeoutMs,
  })
  io.bind(engine)

  function forget(this: EngineSocket) {
    unauthenticated.delete(this)
  }
  engine.on('connection', (connection: EngineSocket) => {
    unauthenticated.add(connection)
    connection.once('close', forget)
  })

  const buffers = capClientBuffers(engine, config.maxClientBufferBytes, (client) => {
    metrics.clientDropped('buffer_full')
    logger.warn('Disconnected a client that does not read what the hub sends', {
      client: client.id,
      address: client.address,
      buffered_bytes: client.bufferedBytes,
      limit: config.maxClientBufferBytes,
    })
  })

  io.use((socket, next) => {
    const address = socket.handshake.address
    if (guard.blocked(address, 'socket')) {
      next(new Error('rate_limited'))
      return
    }
    const { auth, query } = socket.handshake
    const given = typeof auth?.token === 'string' ? auth.token : query.token
    if (typeof given === 'string' && tokenMatches(given)) {
      unauthenticated.delete(socket.conn)
      socket.conn.off('close', forget)
      next()
      return
    }
    guard.failed(address, 'socket')
    next(new Error('unauthorized'))
  })
  return { io, engine, unauthenticated: () => unauthenticated.size, buffers }
}

export function createBroadcaster(
  io: HubSocketServer,
  metrics: HubMetrics,
  fleet = false,
): Broadcaster {
  return {
    toSession(sessionId, event, payload) {
      // Room fan-out: Socket.IO encodes the packet once for every member of the room.
      ;(io.to(roomOf(sessionId)).emit as (e: string, p: unknown) => boolean)(event, payload)
      metrics.eventOut(event)
    },
    subscriberCount(sessionId) {
      return io.sockets.adapter.rooms.get(roomOf(sessionId))?.size ?? 0
    },
    // Asks every hub (the adapter's fetchSockets); only for sessions idle here.
    ...(fleet
      ? {
          watchedElsewhere: async (sessionId: string) =>
            (await io.in(roomOf(sessionId)).fetchSockets()).length > 0,
        }
      : {}),
  }
}

export interface SocketHandlerOptions {
  config: Config
  logger: Logger
  metrics: HubMetrics
  sessions: SessionCommands
  provider: ProviderName
  version: string
  onClientsChanged: (count: number) => void
}

type Handler<E extends ClientEventName> = (
  payload: ClientPayload<E>,
  socket: HubSocket,
) => Promise<object> | object

/** Connections (and disconnections) logged one by one per second; the rest are counted. */
const CONNECTION_LINES_PER_S = 10

/** Wires the protocol's client events to the session commands. */
export function registerSocketHandlers(io: HubSocketServer, options: SocketHandlerOptions): void {
  const { config, logger, metrics, sessions } = options
  const join = (socket: HubSocket) => (sessionId: string) => void socket.join(roomOf(sessionId))
  // Each connection is logged while they come a few at a time; a flood is summed up per second.
  const logConnected = sampledLog(logger, 'Client connected', CONNECTION_LINES_PER_S)
  const logDisconnected = sampledLog(logger, 'Client disconnected', CONNECTION_LINES_PER_S)

  const handlers: { [E in ClientEventName]: Handler<E> } = {
    async get_qr(payload, socket) {
      const { status, replay } = await sessions.requestLink(
        payload.session_id,
        payload.phone_number,
        join(socket),
        socket.id,
      )
      if (replay) emitTo(socket, replay.event, replay.payload)
      return { session_id: status.session_id, status: status.status }
    },
    async get_status(payload, socket) {
      const status = await sessions.status(payload.session_id)
      emitTo(socket, 'status', status)
      return status
    },
    async disconnect_whatsapp(payload) {
      return sessions.disconnect(payload.session_id)
    },
    async subscribe(payload, socket) {
      const { status, replay } = await sessions.subscribe(payload.session_id, join(socket))
      emitTo(socket, 'status', status)
      if (replay) emitTo(socket, replay.event, replay.payload)
      return status
    },
    async list_sessions(payload) {
      return sessionPage(await sessions.list(), payload)
    },
    async get_timeline(payload) {
      return { session_id: payload.session_id, events: await sessions.timeline(payload.session_id) }
    },
    async send_message(payload) {
      const messageId = await sessions.sendMessage(payload.session_id, payload.to, payload.text)
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

  /** A bug in one client's path is logged and counted; the hub and the other clients go on. */
  const reportFault = (what: string, socket: HubSocket, error: unknown, event?: string) => {
    metrics.fault('socket')
    logger.error(`Unexpected error ${what}; the hub keeps running`, {
      client_id: socket.id,
      ...(event ? { event } : {}),
      ...faultFields(error),
    })
  }
  const survive = (what: string, socket: HubSocket, run: () => void) => {
    try {
      run()
    } catch (error) {
      reportFault(what, socket, error)
    }
  }

  io.on('connection', (socket) => {
    survive('greeting a client', socket, () => {
      Object.assign(socket.data, fullBucket(config.rateLimitBurst))
      const clients = io.sockets.sockets.size
      logConnected({
        client_id: socket.id,
        address: socket.handshake.address,
        transport: socket.conn.transport.name,
        clients,
      })
      emitTo(socket, 'connected', {
        type: 'connected',
        client_id: socket.id,
        server_version: options.version,
        provider: options.provider,
        message: 'Connected to WA Link Hub',
      })
      options.onClientsChanged(clients)
    })

    // Every packet passes here first: the rate limit and unknown event names.
    socket.use(([event, ...args], next) => {
      const ack = typeof args.at(-1) === 'function' ? (args.at(-1) as AckFn) : undefined
      try {
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
      } catch (error) {
        reportFault('screening an event', socket, error, String(event))
        fail(socket, ack, 'internal', 'Internal error; the hub keeps running', String(event))
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
            reportFault('handling an event', socket, error, event)
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
      survive('releasing a client', socket, () => {
        for (const room of socket.rooms) {
          if (room.startsWith(SESSION_ROOM_PREFIX))
            sessions.touch(room.slice(SESSION_ROOM_PREFIX.length))
        }
      })
    })
    socket.on('disconnect', (reason) => {
      survive('saying goodbye to a client', socket, () => {
        sessions.forgetClient(socket.id)
        const count = io.sockets.sockets.size
        logDisconnected({ client_id: socket.id, reason, clients: count })
        options.onClientsChanged(count)
      })
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
