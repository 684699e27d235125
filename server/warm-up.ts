import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import WebSocket, { type RawData } from 'ws'
import type { Config } from './config'
import { createHub } from './hub'
import { createConsoleLogger } from './logger'
import { ClientEvent, ServerEvent } from './protocol'

/** Warm-up clients in flight at once. */
const CONCURRENCY = 10
/** A warm-up client that is not answered within this is given up (the warm-up goes on). */
const CLIENT_TIMEOUT_MS = 2000

export interface WarmUpOptions {
  /** A warm-up client not answered within this is given up. */
  clientTimeoutMs?: number
  /** Where the private hub's log lines go: nowhere, unless a test looks. */
  logLine?: (line: string) => void
}

export interface WarmUpResult {
  clients: number
  answered: number
  ms: number
}

/**
 * Runs `clients` clients through the connection path before the real hub listens: each connects
 * over WebSocket, asks for a QR for a fresh session and leaves.
 *
 * They talk to a private hub: loopback, a free port, a random token, a temporary data directory,
 * the simulated provider, its own metrics. It logs at the real hub's level through the same line
 * logger, whose lines go nowhere: the code that formats three lines per client is warmed with the
 * rest. Nothing of it reaches the real hub's sessions, logs or metrics; what carries over is the
 * process's compiled code. A fresh Node process runs its first connections several times slower
 * than later ones (their code is not compiled yet), so a hub started into a burst of clients falls
 * behind in its first second. Ten warm-up clients cost 0.1 s and 3-5 MB; in controlled runs at 600
 * new clients a second they cut connect p99 from 67-137 ms to 41-49 ms, while full benchmark runs
 * still missed 100 ms in the first second (docs/performance.md).
 *
 * The clients speak Socket.IO's frames over the `ws` package the server already loads, not
 * through socket.io-client: importing that kept 9.5 MB more resident in the server (measured), and
 * the idle server has 80 MB.
 */
export async function warmUp(
  config: Config,
  clients: number,
  { clientTimeoutMs = CLIENT_TIMEOUT_MS, logLine = () => {} }: WarmUpOptions = {},
): Promise<WarmUpResult> {
  const startedAt = performance.now()
  const dataDir = await mkdtemp(join(tmpdir(), 'wa-link-hub-warm-up-'))
  const token = randomBytes(24).toString('base64url')
  const hub = createHub(
    {
      ...config,
      host: '127.0.0.1',
      port: 0,
      secretKey: token,
      dataDir,
      dataKey: undefined,
      dataKeyPrevious: [],
      provider: 'simulated',
      redisUrl: undefined,
    },
    { logger: createConsoleLogger(config.logLevel, (_level, line) => logLine(line)) },
  )
  let answered = 0
  try {
    const { url } = await hub.start()
    const endpoint = new URL('/socket.io/?EIO=4&transport=websocket', url.replace(/^http/, 'ws'))
    for (let first = 0; first < clients; first += CONCURRENCY) {
      const wave = Array.from({ length: Math.min(CONCURRENCY, clients - first) }, (_, i) =>
        warmUpClient(endpoint, token, `warm-up-${first + i}`, clientTimeoutMs),
      )
      for (const ok of await Promise.all(wave)) if (ok) answered++
    }
  } finally {
    await hub.stop()
    await rm(dataDir, { recursive: true, force: true })
  }
  return { clients, answered, ms: Math.round(performance.now() - startedAt) }
}

/**
 * One client: the engine.io handshake (`0`), Socket.IO's CONNECT with the token (`40`), `get_qr`
 * for its own session (`42`), and it leaves at the `qr_code` event. True once answered.
 */
function warmUpClient(
  endpoint: URL,
  token: string,
  sessionId: string,
  timeoutMs: number,
): Promise<boolean> {
  const ws = new WebSocket(endpoint)
  return new Promise<boolean>((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer)
      ws.removeAllListeners()
      ws.on('error', () => {}) // a late error of a socket being closed
      ws.terminate()
      resolve(ok)
    }
    const timer = setTimeout(() => done(false), timeoutMs)
    ws.on('message', (raw: RawData) => {
      const frame = raw.toString()
      if (frame.startsWith(`42["${ServerEvent.qrCode}"`)) done(true)
      // refused (say MAX_SESSIONS is lower than the warm-up): no QR is coming
      else if (frame.startsWith(`42["${ServerEvent.error}"`)) done(false)
      else if (frame.startsWith('40')) {
        ws.send(`42${JSON.stringify([ClientEvent.getQr, { session_id: sessionId }])}`)
      } else if (frame.startsWith('0')) ws.send(`40${JSON.stringify({ token })}`)
      else if (frame.startsWith('44')) done(false)
    })
    ws.on('error', () => done(false))
    ws.on('close', () => done(false))
  })
}
