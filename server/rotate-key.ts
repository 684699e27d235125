/**
 * `npm run rotate-key`: seals everything in DATA_DIR under a new data key. Stop the hub first.
 *
 *   key file (default):  npm run rotate-key                     (a new random key replaces it)
 *   DATA_KEY:            DATA_KEY=<old> DATA_KEY_NEW=<new> npm run rotate-key
 *                        then start the hub with DATA_KEY=<new>
 *
 * Interrupted (a crash, kill -9)? Run the same command again: it carries on.
 */
import { commandConfig } from './command'
import { createConsoleLogger } from './logger'
import { rotateDataKey } from './store/rotate'

async function main(): Promise<number> {
  const config = commandConfig()
  if (!config) return 1
  const logger = createConsoleLogger(config.logLevel)
  const result = await rotateDataKey(
    {
      dataDir: config.dataDir,
      dataKey: config.dataKey,
      newKey: config.dataKeyNew,
      previousKeys: config.dataKeyPrevious,
    },
    logger,
  )
  const where =
    result.keptIn === 'key file'
      ? `the new key is in ${config.dataDir}/data-key`
      : 'start the hub with DATA_KEY set to the value of DATA_KEY_NEW'
  process.stdout.write(
    `Re-sealed ${result.resealed} of ${result.total} values under key ${result.keyId}; ${where}\n`,
  )
  return 0
}

main().then(
  (code) => {
    process.exitCode = code
  },
  (error: unknown) => {
    process.stderr.write(`wa-link-hub: rotate-key failed: ${(error as Error).message}\n`)
    process.exitCode = 1
  },
)
