/**
 * `npm run serve`: the hub without a display. Reads the environment (see README), logs to the
 * console, and stops gracefully on SIGINT/SIGTERM.
 */
import { networkInterfaces } from 'node:os'
import { fileURLToPath } from 'node:url'
import { commandConfig } from './command'
import { HubStartError, createHub } from './hub'
import { createConsoleLogger } from './logger'
import { installSafetyNet } from './safety-net'
import { warmUp } from './warm-up'

const STOP_TIMEOUT_MS = 5000

async function main(): Promise<number> {
  const config = commandConfig()
  if (!config) return 1

  const logger = createConsoleLogger(config.logLevel)
  const hub = createHub(config, {
    logger,
    // Built layout (the only one this runs from): out/main/cli.js beside out/renderer and the
    // QR render thread's entry.
    webRoot: fileURLToPath(new URL('../renderer', import.meta.url)),
    qrWorker: fileURLToPath(new URL('./qr-worker.js', import.meta.url)),
  })
  // A bug that escapes every handler is logged and counted; the hub keeps serving its clients.
  installSafetyNet(logger, (origin) => hub.recordFault(origin))
  if (config.warmUpClients > 0) {
    // Before the hub listens, so /health answers once its code has run the connection path.
    try {
      logger.debug('Warmed up', { ...(await warmUp(config, config.warmUpClients)) })
    } catch (error) {
      logger.warn('The start-up warm-up failed; the hub starts without it', { error })
    }
  }

  try {
    const info = await hub.start()
    const lan = networkUrls(config.host, new URL(info.url).port)
    // Without the token: it is printed once, in the start-up line.
    if (lan.length > 0) logger.info(`Other machines on the network reach it at ${lan.join(' ')}`)
  } catch (error) {
    if (error instanceof HubStartError) {
      process.stderr.write(`wa-link-hub: ${error.message}\n`)
      return 1
    }
    throw error
  }

  await new Promise<void>((resolve) => {
    const shutdown = (signal: NodeJS.Signals) => {
      logger.info('Stopping', { signal })
      const timer = setTimeout(() => {
        logger.error('Graceful stop took too long; exiting', { timeout_ms: STOP_TIMEOUT_MS })
        process.exit(1)
      }, STOP_TIMEOUT_MS)
      timer.unref()
      hub.stop().then(resolve, (error: unknown) => {
        logger.error('Stop failed', { error })
        resolve()
      })
    }
    process.once('SIGINT', shutdown)
    process.once('SIGTERM', shutdown)
  })
  return 0
}

/** When listening on every interface, the addresses other machines can use. */
function networkUrls(host: string, port: string): string[] {
  if (host !== '0.0.0.0' && host !== '::') return []
  return Object.values(networkInterfaces())
    .flat()
    .filter((address) => address && address.family === 'IPv4' && !address.internal)
    .map((address) => `http://${address!.address}:${port}/`)
}

main().then(
  (code) => {
    process.exitCode = code
  },
  (error: unknown) => {
    process.stderr.write(`wa-link-hub: unexpected failure: ${(error as Error).message}\n`)
    process.exitCode = 1
  },
)
