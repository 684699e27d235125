/**
 * The QR renderer's thread: renders each QR it is sent and posts the image back, in order. It
 * runs beside the hub's event loop so a burst of new sessions does not stall every connection
 * (docs/performance.md).
 */
import { parentPort } from 'node:worker_threads'
import { renderQrDataUrl } from './qr'

parentPort?.on('message', ({ id, data }: { id: number; data: string }) => {
  try {
    parentPort!.postMessage({ id, image: renderQrDataUrl(data) })
  } catch (error) {
    parentPort!.postMessage({ id, error: (error as Error).message })
  }
})
