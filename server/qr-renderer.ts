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
  /** Starts the render thread if there is one; true once it renders, false if it cannot. */
  warm?(): Promise<boolean>
}

/** The id of the render that tells the thread is up (its code loaded and compiled). */
const WARM_UP = -1

export const inlineQrRenderer: QrRenderer = {
  render: renderQrDataUrl,
  close: async () => undefined,
}

/**
 * The worker-thread renderer, for the headless server (`npm run serve` passes the built
 * `qr-worker.js`). If the worker cannot start or dies, renders go on in this thread: slower under
 * load, never lost.
 */
/**
 * `maxWaiting` (QR_RENDERS_WAITING_MAX) renders may wait for the thread; past that the hub renders
 * in its own thread.
 */
export function createWorkerQrRenderer(
  workerPath: string,
  logger: Logger,
  maxWaiting: number,
): QrRenderer {
  const waiting = new Map<
    number,
    { data: string; resolve(image: string): void; reject(error: Error): void }
  >()
  let next = 0
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
    worker.postMessage({ id: WARM_UP, data: 'warm-up' })
    worker.unref()
    worker.on('message', (answer: { id: number; image?: string; error?: string }) => {
      if (answer.id === WARM_UP) return settleReady(answer.image !== undefined)
      const pending = waiting.get(answer.id)
      waiting.delete(answer.id)
      if (answer.image !== undefined) pending?.resolve(answer.image)
      else pending?.reject(new Error(answer.error ?? 'the QR render failed'))
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
