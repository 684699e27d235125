/**
 * The window's page comes from `app://wa-link-hub/`, served here from the built renderer, rather
 * than from file://: a file: page cannot be given a CSP header, and its meta CSP cannot know which
 * address the hub listens on. Served here, each page gets a CSP that lets it connect to the hub's
 * configured host and nothing else.
 */
import { protocol } from 'electron'
import { readFile } from 'node:fs/promises'
import { extname, isAbsolute, join, relative } from 'node:path'
import { contentSecurityPolicy } from '../server/csp'

const SCHEME = 'app'
/** The window page's origin, as it sends it in `Origin`. */
export const APP_ORIGIN = `${SCHEME}://wa-link-hub`
export const APP_URL = `${APP_ORIGIN}/index.html`

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
}

/**
 * Before `ready` (Electron allows it only then): `app:` is a standard, secure scheme, so the page
 * has a real origin with storage and fetch, as on https.
 */
export function registerAppScheme(): void {
  protocol.registerSchemesAsPrivileged([
    { scheme: SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } },
  ])
}

export interface AppScheme {
  /** Reloads the page when it was served for another hub host than the current one. */
  reloadIfStale(contents: { reload(): void }): void
}

/**
 * After `ready`: serves `root` (the built renderer). `hubHost()` is the host the window connects
 * to, read per request: its http and ws origins, on any port, are the page's only connections.
 */
export function handleAppScheme(root: string, hubHost: () => string): AppScheme {
  let servedFor: string | undefined
  protocol.handle(SCHEME, async (request) => {
    const host = hubHost()
    const response = await serveAppFile(root, request.url, host)
    if (response.ok && response.headers.get('Content-Type')?.startsWith('text/html'))
      servedFor = host
    return response
  })
  return {
    reloadIfStale(contents) {
      const host = hubHost()
      if (servedFor === undefined || servedFor === host) return
      servedFor = host // the reload asks for the page again, for this host
      contents.reload()
    },
  }
}

/** One file of `root` for an `app://wa-link-hub/...` URL; 404 for anything outside it. */
async function serveAppFile(root: string, url: string, hubHost: string): Promise<Response> {
  const target = new URL(url)
  if (`${target.protocol}//${target.host}` !== APP_ORIGIN) return notFound()
  let path: string
  try {
    path = decodeURIComponent(target.pathname)
  } catch {
    return notFound()
  }
  const file = join(root, path === '/' ? 'index.html' : path)
  const inside = relative(root, file)
  if (inside === '' || inside.startsWith('..') || isAbsolute(inside)) return notFound()
  let body: Buffer
  try {
    body = await readFile(file)
  } catch {
    return notFound()
  }
  return new Response(body, {
    headers: {
      'Content-Type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
      'Content-Security-Policy': contentSecurityPolicy([
        `http://${hubHost}:*`,
        `ws://${hubHost}:*`,
      ]),
      'X-Content-Type-Options': 'nosniff',
    },
  })
}

function notFound(): Response {
  return new Response('Not found', { status: 404, headers: { 'Content-Type': 'text/plain' } })
}
