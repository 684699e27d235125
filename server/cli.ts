/**
 * `npm run serve`: the hub without a display. Reads the environment (see README), logs to the
 * console, and stops gracefully on SIGINT/SIGTERM.
 */
import { fileURLToPath } from 'node:url'
import { ConfigError, loadConfig } from './config'
import { HubStartError, createHub } from './hub'
import { createConsoleLogger } from './logger'

const STOP_TIMEOUT_MS = 5000

async function main(): Promise<number> {
  let config
  try {
    config = loadConfig(process.env)
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`wa-link-hub: ${error.message}\n`)
      return 1
    }
    throw error
  }

  const logger = createConsoleLogger(config.logLevel)
  const hub = createHub(config, {
    logger,
    webRoot: fileURLToPath(new URL('../out/renderer', import.meta.url)),
  })

  try {
    await hub.start()
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

main().then(
  (code) => {
    process.exitCode = code
  },
  (error: unknown) => {
    process.stderr.write(`wa-link-hub: unexpected failure: ${(error as Error).message}\n`)
    process.exitCode = 1
  },
)
