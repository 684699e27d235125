/**
 * The load generator: clients that connect and ask for a QR, an open-loop arrival schedule, and
 * fan-out subscribers. Two kinds of QR client do the same protocol steps:
 *
 * - `socket.io-client`: what real programs use (websocket transport, a fresh session id each),
 *   like the external load generator of issue #13.
 * - `lean`: the same Socket.IO frames written by hand over a raw WebSocket (the `ws` package, which
 *   socket.io-client itself uses underneath), without socket.io-client's per-client machinery.
 *   One process with socket.io-client needs about as much CPU per client as the server does, so at
 *   high rates on a shared 2-core machine it measures itself; the `gen-check` rows show both kinds
 *   give the same figures at a rate where neither generator is busy.
 *
 * Times are taken with performance.now(): connect = from starting the client to Socket.IO's
 * CONNECT acknowledgement (socket.io-client's `connect` event); get_qr = from sending `get_qr` to
 * the `qr_code` frame arriving.
 */
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { io } from 'socket.io-client'
import WebSocket from 'ws'

export const ANSWER_TIMEOUT_MS = 15_000

export type ClientKind = 'socket.io-client' | 'lean'

export interface Target {
  url: string
  token: string
}

export interface Outcome {
  /** When the schedule said this client arrives, and when the generator actually started it. */
  dueAt: number
  startedAt: number
  connectMs?: number
  qrMs?: number
  /** When `qr_code` arrived: the client's connect + get_qr was answered. */
  doneAt?: number
  error?: string
  /** The connection ended without the benchmark closing it. */
  dropped: boolean
  close(): void
}

export const freshSessionId = (index: number) =>
  `bench-${randomBytes(6).toString('base64url')}-${index}`

const wsUrl = (target: Target) =>
  `${target.url.replace(/^http/, 'ws')}socket.io/?EIO=4&transport=websocket`

/** One user: connect, then `get_qr` for a new session; resolves when answered or failed. */
export function qrClient(
  kind: ClientKind,
  target: Target,
  sessionId: string,
  dueAt: number,
): Promise<Outcome> {
  return kind === 'lean'
    ? leanQrClient(target, sessionId, dueAt)
    : sioQrClient(target, sessionId, dueAt)
}

function sioQrClient(target: Target, sessionId: string, dueAt: number): Promise<Outcome> {
  const startedAt = performance.now()
  let closing = false
  const socket = io(target.url, {
    transports: ['websocket'],
    auth: { token: target.token },
    reconnection: false,
    forceNew: true,
    timeout: ANSWER_TIMEOUT_MS,
  })
  const outcome: Outcome = {
    dueAt,
    startedAt,
    dropped: false,
    close: () => {
      closing = true
      socket.close()
    },
  }
  socket.on('disconnect', () => {
    if (!closing) outcome.dropped = true
  })
  return new Promise((resolve) => {
    const { finish, settled } = settleOnce(outcome, resolve)
    socket.once('connect', () => {
      if (settled()) return
      const connectedAt = performance.now()
      outcome.connectMs = connectedAt - startedAt
      socket.once('qr_code', () => {
        if (settled()) return // too late: counted as not answered
        outcome.doneAt = performance.now()
        outcome.qrMs = outcome.doneAt - connectedAt
        finish()
      })
      socket.emit('get_qr', { session_id: sessionId })
    })
    socket.once('connect_error', (error) => finish(`connect_error: ${error.message}`))
  })
}

/**
 * Resolves a client's outcome once: answered, failed with `error`, or failed by itself after
 * ANSWER_TIMEOUT_MS. `settled()` says whether that has happened.
 */
function settleOnce(outcome: Outcome, resolve: (outcome: Outcome) => void) {
  let done = false
  const finish = (error?: string) => {
    if (done) return
    done = true
    clearTimeout(timer)
    if (error) outcome.error = error
    resolve(outcome)
  }
  const timer = setTimeout(
    () => finish(`no answer within ${ANSWER_TIMEOUT_MS} ms`),
    ANSWER_TIMEOUT_MS,
  )
  return { finish, settled: () => done }
}

function leanQrClient(target: Target, sessionId: string, dueAt: number): Promise<Outcome> {
  const startedAt = performance.now()
  let closing = false
  const ws = new WebSocket(wsUrl(target))
  const outcome: Outcome = {
    dueAt,
    startedAt,
    dropped: false,
    close: () => {
      closing = true
      ws.close()
    },
  }
  return new Promise((resolve) => {
    const { finish, settled } = settleOnce(outcome, resolve)
    let connectedAt = 0
    ws.on('message', (raw) => {
      const frame = raw.toString()
      if (settled()) {
        if (frame === '2') ws.send('3') // a held client still answers pings
        return
      }
      if (frame.startsWith('42["qr_code"')) {
        outcome.doneAt = performance.now()
        outcome.qrMs = outcome.doneAt - connectedAt
        finish()
      } else if (frame === '2') ws.send('3')
      else if (frame.startsWith('40')) {
        connectedAt = performance.now()
        outcome.connectMs = connectedAt - startedAt
        ws.send(`42${JSON.stringify(['get_qr', { session_id: sessionId }])}`)
      } else if (frame.startsWith('0')) ws.send(`40${JSON.stringify({ token: target.token })}`)
      else if (frame.startsWith('44')) finish(`connect_error: ${frame.slice(2)}`)
    })
    ws.on('error', (error) => finish(error.message))
    ws.on('close', () => {
      if (!closing) outcome.dropped = true
      finish('connection closed')
    })
  })
}

export interface Arrivals<T> {
  results: T[]
  /** performance.now() of the first arrival. */
  began: number
  /** How long the arrivals were meant to take: count / rate. */
  windowMs: number
}

/**
 * An open-loop arrival schedule: client i is due at `i / ratePerS` seconds, started then whatever
 * happened to earlier clients. A timer launches every client that is due; when the generator falls
 * behind, the late ones start at once and their lateness shows as `startedAt - dueAt`.
 */
export async function arrive<T>(
  count: number,
  ratePerS: number,
  start: (index: number, dueAt: number) => Promise<T>,
): Promise<Arrivals<T>> {
  const began = performance.now()
  const dueAt = (index: number) => began + (index * 1000) / ratePerS
  const runs: Promise<T>[] = []
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now()
      while (runs.length < count && dueAt(runs.length) <= now) {
        runs.push(start(runs.length, dueAt(runs.length)))
      }
      if (runs.length < count) setTimeout(tick, Math.max(0, dueAt(runs.length) - now))
      else resolve()
    }
    tick()
  })
  return { results: await Promise.all(runs), began, windowMs: (count * 1000) / ratePerS }
}

/**
 * A fan-out subscriber over a raw WebSocket: joins a session's room with `subscribe` and notes when
 * each `qr_code` frame arrives. With 1,000 socket.io-client instances in one process, decoding their
 * packets one after another would be counted as the server's delivery time (it doubled p50).
 */
export function leanSubscriber(
  target: Target,
  sessionId: string,
  onQr: (arrivedAt: number, frame: string) => void,
): Promise<{ ws: WebSocket; connectMs: number }> {
  const startedAt = performance.now()
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl(target))
    ws.on('error', reject)
    ws.on('message', (raw) => {
      const arrivedAt = Date.now()
      const frame = raw.toString()
      if (frame.startsWith('42["qr_code"')) onQr(arrivedAt, frame)
      else if (frame === '2') ws.send('3')
      else if (frame.startsWith('40')) {
        ws.send(`42${JSON.stringify(['subscribe', { session_id: sessionId }])}`)
        resolve({ ws, connectMs: performance.now() - startedAt })
      } else if (frame.startsWith('0')) ws.send(`40${JSON.stringify({ token: target.token })}`)
      else if (frame.startsWith('44')) reject(new Error(`connect_error: ${frame.slice(2)}`))
    })
  })
}
