import { ConfigError, loadConfig, type Config } from './config'

/**
 * The configuration of a command (`serve`, `rotate-key`), or undefined after one line naming the
 * bad variable on stderr: a person can act on it, and the command exits 1.
 */
export function commandConfig(): Config | undefined {
  try {
    return loadConfig(process.env)
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    process.stderr.write(`wa-link-hub: ${error.message}\n`)
    return undefined
  }
}
