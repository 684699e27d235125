import { existsSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { join } from 'node:path'
import sirv from 'sirv'
import type { z } from 'zod'
import { contentSecurityPolicy } from './csp'
import { HubError } from './errors'
import type { Logger } from './logger'
import type { HubMetrics } from './metrics'
import {
  sessionIdSchema,
  describeZodError,
  simulateMessageBodySchema,
  simulateScanBodySchema,
  simulateSilenceBodySchema,
  type HealthBody,
  type ProviderName,
  type StatsBody,
} from './protocol'
import type { SessionManager } from './sessions/session-manager'
import { MAX_PAYLOAD_BYTES } from './socket'
import { tokenMatches } from './token'

/** HTTP error codes: the protocol's, plus the few only HTTP has. */
type HttpErrorCode =
  | 'unauthorized'
  | 'invalid_payload'
  | 'unknown_session'
  | 'not_authenticated'
  | 'qr_expired'
  | 'qr_mismatch'
  | 'not_found'
  | 'method_not_allowed'
  | 'payload_too_large'
  | 'not_supported'
  | 'internal'

export interface HttpContext {
  token: string
  version: string
  provider: ProviderName
  startedAt: number
  logger: Logger
  metrics: HubMetrics
  manager: SessionManager
  clients: () => number
  /** Built web UI (`out/renderer`); when missing a small page says how to build it. */
  webRoot?: string
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: HttpErrorCode,
    message: string,
  ) {
    super(message)
  }
}

const SIMULATE_ROUTE =
  /^\/api\/sessions\/([^/]+)\/(simulate-scan|simulate-message|simulate-silence)$/

export function createHttpHandler(context: HttpContext) {
  const serveStatic = createStaticHandler(context.webRoot)

  const route = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const { pathname } = url
    const method = req.method ?? 'GET'

    if (method === 'OPTIONS') {
      res.writeHead(204, corsHeaders()).end()
      return
    }
    if (pathname === '/health') {
      allow(method, ['GET', 'HEAD'])
      const body: HealthBody = { status: 'ok', version: context.version, uptime_s: uptime(context) }
      return sendJson(res, 200, body)
    }
    const isApi = pathname === '/stats' || pathname === '/metrics' || pathname.startsWith('/api/')
    if (!isApi) {
      allow(method, ['GET', 'HEAD'])
      return serveStatic(req, res, pathname)
    }

    requireToken(req, url, context.token)

    if (pathname === '/stats') {
      allow(method, ['GET', 'HEAD'])
      const counts = context.manager.countByStatus()
      const body: StatsBody = {
        uptime_s: uptime(context),
        clients: context.clients(),
        sessions: { total: context.manager.size, ...counts },
        provider: context.provider,
      }
      return sendJson(res, 200, body)
    }
    if (pathname === '/metrics') {
      allow(method, ['GET', 'HEAD'])
      const text = await context.metrics.registry.metrics()
      res.writeHead(200, { 'Content-Type': context.metrics.registry.contentType, ...corsHeaders() })
      res.end(text)
      return
    }
    if (pathname === '/api/sessions') {
      allow(method, ['GET', 'HEAD'])
      return sendJson(res, 200, { sessions: context.manager.list() })
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
    const result = await context.manager.simulateScan(sessionId, body)
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
    const result = context.manager.simulateMessage(sessionId, body.from, body.text)
    if (result === 'unsupported') throw notSupported()
    return sendJson(res, 200, { ok: true, message_id: result.id })
  }

  const simulateSilence = async (req: IncomingMessage, res: ServerResponse, sessionId: string) => {
    const body = await readJson(req, simulateSilenceBodySchema)
    if (context.manager.simulateSilence(sessionId, body.silent) === 'unsupported') {
      throw notSupported()
    }
    return sendJson(res, 200, { ok: true })
  }

  return (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://localhost')
    route(req, res, url).catch((error: unknown) => {
      if (res.headersSent) {
        res.destroy()
        return
      }
      if (error instanceof HttpError) {
        return sendJson(res, error.status, { code: error.code, message: error.message })
      }
      if (error instanceof HubError) {
        const status =
          error.code === 'unknown_session' ? 404 : error.code === 'not_authenticated' ? 409 : 400
        return sendJson(res, status, { code: error.code, message: error.message })
      }
      context.logger.error('HTTP request failed', { path: url.pathname, error })
      sendJson(res, 500, { code: 'internal', message: 'Internal error; the hub keeps running' })
    })
  }
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

function requireToken(req: IncomingMessage, url: URL, token: string): void {
  const header = req.headers.authorization
  const bearer = header?.startsWith('Bearer ') ? header.slice(7).trim() : undefined
  const given = bearer ?? url.searchParams.get('token')
  if (!given || !tokenMatches(given, token)) {
    throw new HttpError(401, 'unauthorized', 'A valid access token is required')
  }
}

function uptime(context: HttpContext): number {
  return Math.floor((Date.now() - context.startedAt) / 1000)
}

function corsHeaders(): Record<string, string> {
  return {
    'Access-Control-Allow-Origin': '*',
    'Access-Control-Allow-Headers': 'Authorization, Content-Type',
    'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    ...corsHeaders(),
  })
  res.end(text)
}

async function readJson<S extends z.ZodType>(
  req: IncomingMessage,
  schema: S,
): Promise<z.output<S>> {
  const declared = Number(req.headers['content-length'] ?? 0)
  if (declared > MAX_PAYLOAD_BYTES) {
    req.resume()
    throw new HttpError(
      413,
      'payload_too_large',
      `bodies are limited to ${MAX_PAYLOAD_BYTES} bytes`,
    )
  }
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > MAX_PAYLOAD_BYTES) {
      throw new HttpError(
        413,
        'payload_too_large',
        `bodies are limited to ${MAX_PAYLOAD_BYTES} bytes`,
      )
    }
    chunks.push(chunk as Buffer)
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
