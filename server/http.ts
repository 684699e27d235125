import { existsSync } from 'node:fs'
import {
  createServer,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
} from 'node:http'
import { join } from 'node:path'
import type { Duplex } from 'node:stream'
import { Server as EngineServer } from 'engine.io'
import sirv from 'sirv'
import type { z } from 'zod'
import type { AuthGuard } from './auth-guard'
import type { Config } from './config'
import { contentSecurityPolicy } from './csp'
import { HubError } from './errors'
import type { Logger } from './logger'
import type { HubMetrics } from './metrics'
import type { OriginPolicy } from './origins'
import { sessionPage } from './paging'
import {
  sessionIdSchema,
  describeZodError,
  listSessionsQuerySchema,
  simulateMessageBodySchema,
  simulateScanBodySchema,
  simulateSilenceBodySchema,
  type ErrorCode,
  type HealthBody,
  type ProviderName,
  type StatsBody,
} from './protocol'
import { answerRaw } from './raw-response'
import { faultFields } from './safety-net'
import type { FleetStats, HubHealth } from './backplane'
import type { SessionCommands } from './sessions/session-commands'
import { MAX_PAYLOAD_BYTES, SOCKET_IO_PATH, SOCKET_IO_REQUEST_IDLE_MS } from './socket'
import { tokenChecker } from './token'

/** HTTP error codes: the protocol's, plus the few only HTTP has. */
type HttpErrorCode =
  | ErrorCode
  | 'qr_mismatch'
  | 'bad_request'
  | 'forbidden_origin'
  | 'not_found'
  | 'method_not_allowed'
  | 'request_timeout'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'expectation_failed'
  | 'headers_too_large'
  | 'not_supported'

/** The HTTP status of each protocol error raised while answering a request. */
const STATUS_OF: Record<ErrorCode, number> = {
  unauthorized: 401,
  invalid_payload: 400,
  unknown_session: 404,
  rate_limited: 429,
  not_authenticated: 409,
  provider_error: 502,
  qr_expired: 410,
  limit_reached: 429,
  // The hub that owns the session did not answer, or Redis is away: try again shortly.
  unavailable: 503,
  internal: 500,
}

export interface HttpContext {
  token: string
  version: string
  provider: ProviderName
  startedAt: number
  logger: Logger
  metrics: HubMetrics
  sessions: SessionCommands
  /** Connected clients (of the whole fleet, when there is one). */
  clients: () => Promise<number>
  health: () => HubHealth
  fleetStats: () => Promise<FleetStats | undefined>
  guard: AuthGuard
  origins: OriginPolicy
  /** Built web UI (`out/renderer`); when missing a small page says how to build it. */
  webRoot?: string
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: HttpErrorCode,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message)
  }
}

/** A request whose body ended early (the client closed the connection): counted, not logged. */
class BodyCutOffError extends HttpError {
  constructor() {
    super(400, 'invalid_payload', 'the body was cut off before its end')
  }
}

const INTERNAL_MESSAGE = 'Internal error; the hub keeps running'
const SIMULATE_ROUTE =
  /^\/api\/sessions\/([^/]+)\/(simulate-scan|simulate-message|simulate-silence)$/
/** Methods that only read: a page from any origin may send them, it just cannot read the answer. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

export interface HttpServerOptions {
  config: Config
  /** Socket.IO's Engine.IO server: owner of every request and upgrade under `/socket.io/`. */
  engine: EngineServer
  /** Everything else: the API and the web UI (`createHttpHandler`). */
  handle: (req: IncomingMessage, res: ServerResponse) => void
  logger: Logger
  metrics: HubMetrics
}

/**
 * The hub's one HTTP server. It decides who answers what, by path: Socket.IO's own path goes to
 * Engine.IO (requests and upgrades), the rest to the API. Whatever Node's parser refuses, and
 * every timeout, gets a JSON answer; slow or silent clients are closed by the timeouts.
 */
export function createHttpServer(options: HttpServerOptions): HttpServer {
  const { config, engine, handle, logger, metrics } = options
  const server = createServer({
    headersTimeout: config.httpHeadersTimeoutMs,
    requestTimeout: config.httpRequestTimeoutMs,
    // Node checks both timeouts on this interval, 30 s by default: too coarse to hold them.
    connectionsCheckingInterval: Math.min(1000, config.httpHeadersTimeoutMs),
  })
  server.keepAliveTimeout = config.httpKeepAliveTimeoutMs
  // Idle sockets are destroyed (no 'timeout' listener). Upgraded websockets are exempt: ws turns
  // the socket's timeout off.
  server.timeout = config.httpIdleTimeoutMs

  const fault = (error: unknown, req: IncomingMessage) => reportFault(error, req, logger, metrics)

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (!req.url?.startsWith(SOCKET_IO_PATH)) {
      handle(req, res)
      return
    }
    // A long-poll waits quietly for the next packet: Engine.IO's heartbeat bounds it, so it gets
    // the heartbeat's limit instead of the idle timeout.
    req.socket.setTimeout(SOCKET_IO_REQUEST_IDLE_MS)
    try {
      engine.handleRequest(req, res)
    } catch (error) {
      fault(error, req)
      if (res.headersSent) res.destroy()
      else sendJson(res, 500, { code: 'internal', message: INTERNAL_MESSAGE })
    }
  })
  // Engine.IO answers a refused polling request in JSON itself, but a refused websocket handshake
  // in plain text, right after this event: answer in JSON first (it then finds the socket closed).
  const upgrades = new WeakSet<IncomingMessage>()
  engine.on('connection_error', (error: EngineConnectionError) => {
    if (!upgrades.has(error.req) || error.req.socket.destroyed) return
    const forbidden = error.code === EngineServer.errors.FORBIDDEN
    answerRaw(
      error.req.socket,
      forbidden ? 403 : 400,
      forbidden ? 'forbidden' : 'bad_request',
      error.context?.message ?? error.message,
    )
  })
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // Node takes its error listener off an upgraded socket; without one a reset would throw.
    socket.on('error', ignoreError)
    if (!req.url?.startsWith(SOCKET_IO_PATH)) {
      answerRaw(socket, 404, 'not_found', `only ${SOCKET_IO_PATH} accepts upgrades`)
      return
    }
    upgrades.add(req)
    try {
      engine.handleUpgrade(req, socket, head)
    } catch (error) {
      fault(error, req)
      answerRaw(socket, 500, 'internal', INTERNAL_MESSAGE)
    }
  })
  // Without a listener Node would close CONNECT requests without a word.
  server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
    socket.on('error', ignoreError)
    answerRaw(socket, 405, 'method_not_allowed', 'CONNECT is not supported')
  })
  server.on('checkExpectation', (_req: IncomingMessage, res: ServerResponse) => {
    sendJson(res, 417, {
      code: 'expectation_failed',
      message: 'only Expect: 100-continue is supported',
    })
  })
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    const answer = clientErrorAnswer(error.code)
    // A reset or an answer already under way: nothing can be said any more.
    const inFlight = (socket as { _httpMessage?: ServerResponse })._httpMessage
    if (!answer || inFlight?.headersSent) {
      socket.destroy()
      return
    }
    metrics.httpClientError(answer.code)
    logger.debug('Refused a malformed or slow HTTP request', {
      reason: error.code,
      address: (socket as { remoteAddress?: string }).remoteAddress,
    })
    answerRaw(socket, answer.status, answer.code, answer.message)
  })
  return server
}

/** Engine.IO's `connection_error` event; `context.message` carries `allowRequest`'s reason. */
interface EngineConnectionError {
  req: IncomingMessage
  code: number
  message: string
  context?: { message?: string }
}

function ignoreError(): void {}

function clientErrorAnswer(
  code: string | undefined,
): { status: number; code: HttpErrorCode; message: string } | undefined {
  switch (code) {
    case 'ECONNRESET':
    case 'EPIPE':
      return undefined
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return {
        status: 408,
        code: 'request_timeout',
        message: 'the request did not arrive in time',
      }
    case 'HPE_HEADER_OVERFLOW':
      return {
        status: 431,
        code: 'headers_too_large',
        message: 'the request line and headers are too large',
      }
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return {
        status: 413,
        code: 'payload_too_large',
        message: 'the chunk extensions are too large',
      }
    default:
      return { status: 400, code: 'bad_request', message: 'the request is not valid HTTP/1.1' }
  }
}

interface RequestTarget {
  pathname: string
  search: string
  searchParams: URLSearchParams
}

/**
 * The path and query of a request target, without trusting it: origin-form (`/path?query`) is
 * read relative to a fixed base so `//host` stays a path, absolute-form (`http://host/path`) is
 * accepted as HTTP/1.1 requires, anything else (`*`, authority-form, garbage) is a 400.
 */
function parseTarget(raw: string): RequestTarget {
  let url: URL | undefined
  try {
    if (raw.startsWith('/')) url = new URL(`http://hub.invalid${raw}`)
    else if (/^https?:\/\//i.test(raw)) url = new URL(raw)
  } catch {
    url = undefined
  }
  if (!url) throw new HttpError(400, 'bad_request', 'the request target is not a valid path')
  return { pathname: url.pathname, search: url.search, searchParams: url.searchParams }
}

export function createHttpHandler(context: HttpContext) {
  const serveStatic = createStaticHandler(context.webRoot)
  const { origins } = context
  const tokenMatches = tokenChecker(context.token)

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const origin = req.headers.origin
    const originAllowed = origins.allows(origin, req.headers.host)
    applyCors(res, origins, origin, originAllowed)
    const url = parseTarget(req.url ?? '/')
    const { pathname } = url
    // The web UI's file server reads req.url itself: give it the origin-form of the target.
    if (!req.url?.startsWith('/')) req.url = `${pathname}${url.search}`
    const method = req.method ?? 'GET'

    if (!originAllowed && !SAFE_METHODS.has(method)) throw forbiddenOrigin()
    if (method === 'OPTIONS') {
      if (!originAllowed) throw forbiddenOrigin()
      res.writeHead(204, { 'Access-Control-Max-Age': '600' }).end()
      return
    }
    if (pathname === '/health') {
      allow(method, ['GET', 'HEAD'])
      const health = context.health()
      // 200 even when degraded: the hub still serves the sessions it owns.
      const body: HealthBody = {
        status: health.status,
        version: context.version,
        uptime_s: uptime(context),
        ...(health.redis ? { redis: health.redis } : {}),
      }
      return sendJson(res, 200, body)
    }
    const isApi = pathname === '/stats' || pathname === '/metrics' || pathname.startsWith('/api/')
    if (!isApi) {
      allow(method, ['GET', 'HEAD'])
      return serveStatic(req, res, pathname)
    }

    const address = req.socket.remoteAddress ?? 'unknown'
    if (context.guard.blocked(address, 'http')) {
      throw new HttpError(
        429,
        'rate_limited',
        'Too many wrong tokens from this address; try again in a minute',
        { 'Retry-After': '60' },
      )
    }
    if (!hasToken(req, url, tokenMatches)) {
      context.guard.failed(address, 'http')
      throw new HttpError(401, 'unauthorized', 'A valid access token is required')
    }

    if (pathname === '/stats') {
      allow(method, ['GET', 'HEAD'])
      const [sessions, clients, fleet] = await Promise.all([
        context.sessions.counts(),
        context.clients(),
        context.fleetStats(),
      ])
      const body: StatsBody = {
        uptime_s: uptime(context),
        clients,
        sessions,
        provider: context.provider,
        ...(fleet ? { fleet } : {}),
      }
      return sendJson(res, 200, body)
    }
    if (pathname === '/metrics') {
      allow(method, ['GET', 'HEAD'])
      const text = await context.metrics.registry.metrics()
      res.writeHead(200, { 'Content-Type': context.metrics.registry.contentType })
      res.end(text)
      return
    }
    if (pathname === '/api/sessions') {
      allow(method, ['GET', 'HEAD'])
      const query = listSessionsQuerySchema.safeParse(pagingQuery(url.searchParams))
      if (!query.success) throw new HttpError(400, 'invalid_payload', describeZodError(query.error))
      return sendJson(res, 200, sessionPage(await context.sessions.list(), query.data))
    }

    const simulate = SIMULATE_ROUTE.exec(pathname)
    if (simulate) {
      allow(method, ['POST'])
      const sessionId = sessionIdFromPath(simulate[1] ?? '')
      if (simulate[2] === 'simulate-scan') return simulateScan(req, res, sessionId)
      if (simulate[2] === 'simulate-silence') return simulateSilence(req, res, sessionId)
      return simulateMessage(req, res, sessionId)
    }
    throw new HttpError(404, 'not_found', `no endpoint ${pathname}`)
  }

  const simulateScan = async (req: IncomingMessage, res: ServerResponse, sessionId: string) => {
    const body = await readJson(req, simulateScanBodySchema)
    const result = await context.sessions.simulateScan(sessionId, body)
    switch (result) {
      case 'ok':
        return sendJson(res, 200, { ok: true })
      case 'expired':
        throw new HttpError(
          410,
          'qr_expired',
          'This QR code has expired or was replaced by a newer one',
        )
      case 'mismatch':
        throw new HttpError(409, 'qr_mismatch', 'This QR code was never issued for this session')
      case 'unsupported':
        throw notSupported()
    }
  }

  const simulateMessage = async (req: IncomingMessage, res: ServerResponse, sessionId: string) => {
    const body = await readJson(req, simulateMessageBodySchema)
    const result = await context.sessions.simulateMessage(sessionId, body.from, body.text)
    if (result === 'unsupported') throw notSupported()
    return sendJson(res, 200, { ok: true, message_id: result.id })
  }

  const simulateSilence = async (req: IncomingMessage, res: ServerResponse, sessionId: string) => {
    const body = await readJson(req, simulateSilenceBodySchema)
    if ((await context.sessions.simulateSilence(sessionId, body.silent)) === 'unsupported') {
      throw notSupported()
    }
    return sendJson(res, 200, { ok: true })
  }

  const answerFailure = (req: IncomingMessage, res: ServerResponse, error: unknown) => {
    if (res.headersSent) {
      res.destroy()
      return
    }
    if (error instanceof BodyCutOffError) context.metrics.httpClientError('body_cut_off')
    if (error instanceof HttpError) {
      return sendJson(
        res,
        error.status,
        { code: error.code, message: error.message },
        error.headers,
      )
    }
    if (error instanceof HubError) {
      return sendJson(
        res,
        STATUS_OF[error.code] ?? 500,
        { code: error.code, message: error.message },
        error.code === 'unavailable' ? { 'Retry-After': '5' } : {},
      )
    }
    reportFault(error, req, context.logger, context.metrics)
    sendJson(res, 500, { code: 'internal', message: INTERNAL_MESSAGE })
  }

  return (req: IncomingMessage, res: ServerResponse): void => {
    // `route` is async: whatever it throws, however early, arrives here as a rejection.
    route(req, res).catch((error: unknown) => {
      try {
        answerFailure(req, res, error)
      } catch {
        res.destroy()
      }
    })
  }
}

/** A bug met while answering a request: counted and logged with where it came from. */
function reportFault(error: unknown, req: IncomingMessage, logger: Logger, metrics: HubMetrics) {
  metrics.fault('http')
  logger.error('Unexpected error answering a request; the hub keeps running', {
    method: req.method,
    // Without the query: it can hold the access token (`?token=`).
    path: req.url?.split('?')[0]?.slice(0, 200),
    address: req.socket.remoteAddress,
    ...faultFields(error),
  })
}

/** The `:id` of a route, checked like a `session_id` in the protocol. */
function sessionIdFromPath(segment: string): string {
  let decoded: string
  try {
    decoded = decodeURIComponent(segment)
  } catch {
    throw new HttpError(
      400,
      'invalid_payload',
      'the session id in the path is not valid URL encoding',
    )
  }
  const parsed = sessionIdSchema.safeParse(decoded)
  if (!parsed.success) throw new HttpError(400, 'invalid_payload', describeZodError(parsed.error))
  return parsed.data
}

function notSupported(): HttpError {
  return new HttpError(
    501,
    'not_supported',
    'Simulation is only available with WA_PROVIDER=simulated',
  )
}

function allow(method: string, methods: string[]): void {
  if (!methods.includes(method)) {
    throw new HttpError(405, 'method_not_allowed', `use ${methods.join(' or ')}`)
  }
}

/** `Authorization: Bearer <token>` (the scheme in any case, as HTTP says) or `?token=`. */
function hasToken(
  req: IncomingMessage,
  url: RequestTarget,
  matches: (given: string) => boolean,
): boolean {
  const bearer = /^bearer[ \t]+(\S+)[ \t]*$/i.exec(req.headers.authorization ?? '')?.[1]
  const given = bearer ?? url.searchParams.get('token')
  return given !== null && given !== '' && matches(given)
}

/** `?limit=&cursor=` as the protocol's `list_sessions` payload; zod explains what is wrong. */
function pagingQuery(params: URLSearchParams): Record<string, unknown> {
  const query: Record<string, unknown> = {}
  const limit = params.get('limit')
  if (limit !== null) query.limit = /^\d{1,9}$/.test(limit) ? Number(limit) : limit
  const cursor = params.get('cursor')
  if (cursor !== null) query.cursor = cursor
  return query
}

function forbiddenOrigin(): HttpError {
  return new HttpError(403, 'forbidden_origin', 'This origin may not use the hub (CORS_ORIGINS)')
}

function uptime(context: HttpContext): number {
  return Math.floor((Date.now() - context.startedAt) / 1000)
}

/** CORS headers for an allowed browser origin (every origin with `CORS_ORIGINS=*`). */
function applyCors(
  res: ServerResponse,
  origins: OriginPolicy,
  origin: string | undefined,
  allowed: boolean,
): void {
  if (origins.variesByOrigin) res.setHeader('Vary', 'Origin')
  if (!allowed || (origins.variesByOrigin && origin === undefined)) return
  res.setHeader('Access-Control-Allow-Origin', origins.allowHeader(origin ?? '*'))
  res.setHeader('Access-Control-Allow-Headers', 'Authorization, Content-Type')
  res.setHeader('Access-Control-Allow-Methods', 'GET, POST, OPTIONS')
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    ...headers,
  })
  res.end(text)
}

/**
 * The body as JSON, checked by `schema`. Only `application/json` is read: a page on another
 * origin can post `text/plain` without asking first (no CORS preflight), never JSON.
 */
async function readJson<S extends z.ZodType>(
  req: IncomingMessage,
  schema: S,
): Promise<z.output<S>> {
  const type = req.headers['content-type']?.split(';')[0]?.trim().toLowerCase()
  if (type !== 'application/json') {
    throw new HttpError(
      415,
      'unsupported_media_type',
      'send the body as JSON with Content-Type: application/json',
    )
  }
  const tooLarge = () =>
    // The rest of the body is not read: the connection closes after the answer.
    new HttpError(413, 'payload_too_large', `bodies are limited to ${MAX_PAYLOAD_BYTES} bytes`, {
      Connection: 'close',
    })
  if (Number(req.headers['content-length'] ?? 0) > MAX_PAYLOAD_BYTES) throw tooLarge()
  const chunks: Buffer[] = []
  let size = 0
  try {
    for await (const chunk of req) {
      size += (chunk as Buffer).length
      if (size > MAX_PAYLOAD_BYTES) throw tooLarge()
      chunks.push(chunk as Buffer)
    }
  } catch (error) {
    if (error instanceof HttpError) throw error
    // The client went away before the end of its body: its doing, not a fault of the hub.
    throw new BodyCutOffError()
  }
  let value: unknown
  try {
    value = JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null')
  } catch {
    throw new HttpError(400, 'invalid_payload', 'the body is not valid JSON')
  }
  const parsed = schema.safeParse(value)
  if (!parsed.success) throw new HttpError(400, 'invalid_payload', describeZodError(parsed.error))
  return parsed.data
}

/** A browser's page talks only to the hub that served it: its own origin, over http and ws. */
function pageConnectSources(host: string | undefined): string[] {
  return host && /^[A-Za-z0-9.:[\]-]+$/.test(host) ? [`ws://${host}`, `wss://${host}`] : []
}

/**
 * The web UI's files are public (they hold no data; everything with data needs the token), so a
 * browser can load the page and then ask for the token. Hashed assets are cached for a year,
 * `index.html` never.
 */
function createStaticHandler(webRoot: string | undefined) {
  const built = webRoot !== undefined && existsSync(join(webRoot, 'index.html'))
  const files = built
    ? sirv(webRoot, {
        etag: true,
        setHeaders(res, pathname) {
          res.setHeader(
            'Cache-Control',
            pathname.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
          )
        },
      })
    : undefined

  return (req: IncomingMessage, res: ServerResponse, pathname: string): void => {
    // Ranges are optional in HTTP and the UI never needs them; sirv throws on a reversed one.
    delete req.headers.range
    res.setHeader(
      'Content-Security-Policy',
      contentSecurityPolicy(pageConnectSources(req.headers.host)),
    )
    res.setHeader('X-Content-Type-Options', 'nosniff')
    // The token can sit in the page's address: never send it onwards.
    res.setHeader('Referrer-Policy', 'no-referrer')
    if (files) {
      files(req, res, () =>
        sendJson(res, 404, { code: 'not_found', message: `no file ${pathname}` }),
      )
      return
    }
    if (pathname !== '/' && pathname !== '/index.html') {
      sendJson(res, 404, { code: 'not_found', message: `no file ${pathname}` })
      return
    }
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-cache' })
    res.end(FALLBACK_PAGE)
  }
}

const FALLBACK_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>WA Link Hub</title></head>
<body><h1>WA Link Hub</h1>
<p>The hub is running. The web UI has not been built: run <code>npm run build</code>, then restart.</p>
<p>Clients connect with Socket.IO on this address with the access token.</p>
</body></html>`
