import { Worker } from 'node:worker_threads'
import type { Logger } from './logger'
import { renderQrDataUrl } from './qr'

/**
 * Turns QR text into a PNG data URL. In this thread (a string at once), or on a worker thread
 * (a promise; images come back in the order asked).
 */
export interface QrRenderer {
  render(data: string): string | Promise<string>
  close(): Promise<void>
  /** Renders waiting for the render thread (none without one). */
  readonly waiting?: number
  /** Images the render thread has delivered so far (none without one). */
  readonly threadRenders?: number
  /** Starts the render thread if there is one; true once it renders, false if it cannot. */
  warm?(): Promise<boolean>
}

/** The id of the render that tells the thread is up (its code loaded and compiled). */
const WARM_UP = -1
/**
 * What the thread renders before it takes work: a text the size of WhatsApp's (version 8 codes),
 * this many times. A fresh thread's first 50 renders take 1.7 ms on average, later ones 0.5 ms.
 */
const WARM_UP_TEXT = `2@${'warm-up'.repeat(26)}`
const WARM_UP_RENDERS = 100

export const inlineQrRenderer: QrRenderer = {
  render: renderQrDataUrl,
  close: async () => undefined,
}

/**
 * The renderer of the headless server (`npm run serve` passes the built `qr-worker.js`): QR images
 * are rendered in this thread, and on a worker thread only while this thread's event loop is
 * saturated (`busy`, by default `loopBusy()`). Measured on two cores (docs/performance.md): at 600
 * new clients a second the hub answers faster rendering here (0.4 ms a render; the thread's
 * messages and its start-up cost the event loop more than they save), and at 1,000 a second it
 * keeps up only with the thread. The thread starts the first time the loop is saturated and then
 * stays. If it cannot start or dies, renders go on in this thread: slower under load, never lost.
 * `maxWaiting` (QR_RENDERS_WAITING_MAX) renders may wait for the thread; past that the hub renders
 * in its own thread.
 */
export function createWorkerQrRenderer(
  workerPath: string,
  logger: Logger,
  maxWaiting: number,
  busy: () => boolean = loopBusy(),
): QrRenderer {
  const waiting = new Map<
    number,
    { data: string; resolve(image: string): void; reject(error: Error): void }
  >()
  let next = 0
  let delivered = 0
  let worker: Worker | undefined
  let broken = false
  // Until the thread has rendered once, renders stay in this thread: loading its code takes
  // about 100 ms, which the first clients of a burst would otherwise wait.
  let ready = false
  const onReady: ((up: boolean) => void)[] = []
  const settleReady = (up: boolean) => {
    ready = up
    for (const tell of onReady.splice(0)) tell(up)
  }

  const failAll = (error: Error) => {
    for (const pending of waiting.values()) pending.reject(error)
    waiting.clear()
  }
  const start = (): Worker | undefined => {
    if (worker || broken) return worker
    try {
      worker = new Worker(workerPath)
    } catch (error) {
      broken = true
      settleReady(false)
      logger.error('The QR render thread could not start; rendering in the main thread', {
        error,
      })
      return undefined
    }
    logger.info('The event loop is busy: QR images are rendered on a render thread while it is')
    worker.postMessage({ id: WARM_UP, data: WARM_UP_TEXT, repeat: WARM_UP_RENDERS })
    worker.unref()
    worker.on('message', (answer: { id: number; image?: string; error?: string }) => {
      if (answer.id === WARM_UP) return settleReady(answer.image !== undefined)
      const pending = waiting.get(answer.id)
      waiting.delete(answer.id)
      if (answer.image !== undefined) {
        delivered += 1
        pending?.resolve(answer.image)
      } else pending?.reject(new Error(answer.error ?? 'the QR render failed'))
    })
    worker.on('error', (error) => {
      broken = true
      worker = undefined
      settleReady(false)
      logger.error('The QR render thread failed; rendering in the main thread from now on', {
        error,
      })
      // What it had not answered yet is rendered here: a broken thread loses no QR.
      for (const [id, pending] of waiting) {
        waiting.delete(id)
        try {
          pending.resolve(renderQrDataUrl(pending.data))
        } catch (renderError) {
          pending.reject(renderError as Error)
        }
      }
    })
    return worker
  }

  return {
    render(data) {
      if (!busy()) return renderQrDataUrl(data)
      const thread = waiting.size < maxWaiting ? start() : undefined
      if (!thread || !ready) return renderQrDataUrl(data)
      const id = next++
      return new Promise<string>((resolve, reject) => {
        waiting.set(id, { data, resolve, reject })
        thread.postMessage({ id, data })
      })
    },
    get waiting() {
      return waiting.size
    },
    get threadRenders() {
      return delivered
    },
    warm() {
      if (ready || broken || !start()) return Promise.resolve(ready)
      return new Promise<boolean>((resolve) => onReady.push(resolve))
    },
    async close() {
      settleReady(false)
      failAll(new Error('the hub stopped'))
      await worker?.terminate()
      worker = undefined
    },
  }
}

/** The event loop's busy share is judged over windows of this length... */
const BUSY_WINDOW_MS = 1000
/** ...it is busy after this many windows in a row at BUSY_FROM or more... */
const BUSY_WINDOWS = 5
const BUSY_FROM = 0.9
/** ...and stays busy until a window under BUSY_UNTIL. */
const BUSY_UNTIL = 0.6

/**
 * Whether this thread's event loop is saturated: busy 90 % of the time or more for five seconds
 * in a row, and since then never under 60 % for a second. A hub starting into a burst of 600 new
 * clients a second is over 90 % busy for its first two to four seconds (longer in the minutes a
 * shared host gives this machine less), then 65-88 %; one taking more than its event loop can
 * (1,000 a second) stays at 100 %. With three seconds, the start of a 600/s burst started the
 * thread in 2 of 4 runs, and those two answered 4 times slower for the rest of the burst (connect
 * p99 548 and 593 ms against 94-157; docs/performance.md). Read when asked, no timer. `measure`
 * is `performance.eventLoopUtilization`.
 */
export function loopBusy(
  measure: typeof performance.eventLoopUtilization = (...args) =>
    performance.eventLoopUtilization(...args),
): () => boolean {
  let mark = measure()
  let busy = false
  let busyWindows = 0
  return () => {
    const window = measure(mark)
    if (window.active + window.idle < BUSY_WINDOW_MS) return busy
    mark = measure()
    if (busy) busy = window.utilization >= BUSY_UNTIL
    else {
      busyWindows = window.utilization >= BUSY_FROM ? busyWindows + 1 : 0
      busy = busyWindows >= BUSY_WINDOWS
    }
    if (busy) busyWindows = 0
    return busy
  }
}
