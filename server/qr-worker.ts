/**
 * The QR renderer's thread: renders each QR it is sent and posts the image back, in order. It
 * runs beside the hub's event loop so a burst of new sessions does not stall every connection
 * (docs/performance.md).
 */
import { parentPort } from 'node:worker_threads'
import { renderQrDataUrl } from './qr'

/**
 * `repeat` (the warm-up): renders that many variants of `data` first, so the thread's code is
 * compiled before its first real render, and answers with the image of `data`.
 */
parentPort?.on(
  'message',
  ({ id, data, repeat = 0 }: { id: number; data: string; repeat?: number }) => {
    try {
      for (let i = 1; i <= repeat; i++) renderQrDataUrl(`${data}${i}`)
      parentPort!.postMessage({ id, image: renderQrDataUrl(data) })
    } catch (error) {
      parentPort!.postMessage({ id, error: (error as Error).message })
    }
  },
)
