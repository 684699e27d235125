import type { LogFields, Logger } from '../server/logger'

export type ProcessFault = 'uncaughtException' | 'unhandledRejection'

/**
 * Main's last line: a throw or rejection nobody caught (a timer, an event handler, a library's
 * callback) is logged with its origin and stack, and the app keeps running — the hub keeps
 * serving, the tray and window stay. Without a listener, Electron answers an uncaught exception
 * with a modal error box that blocks main until someone clicks it.
 *
 * Called like the CLI's `installSafetyNet(logger, onFault?)` in server/safety-net.ts, which another
 * branch is adding; once both are merged, main imports that one and this file goes.
 * Returns the uninstaller.
 */
export function installSafetyNet(logger: Logger): () => void {
  const report = (origin: ProcessFault, error: unknown) => {
    try {
      logger.error('Unexpected failure; WA Link Hub keeps running', {
        origin,
        ...faultFields(error),
      })
    } catch {
      // Reporting itself failed (a full disk under the log file): nothing safer is left to do.
    }
  }
  const onException = (error: Error) => report('uncaughtException', error)
  const onRejection = (reason: unknown) => report('unhandledRejection', reason)
  process.on('uncaughtException', onException)
  process.on('unhandledRejection', onRejection)
  return () => {
    process.off('uncaughtException', onException)
    process.off('unhandledRejection', onRejection)
  }
}

function faultFields(error: unknown): LogFields {
  return error instanceof Error
    ? { error: error.message, stack: error.stack }
    : { error: String(error) }
}
