import type { LogFields, Logger } from './logger'

export type ProcessFault = 'uncaughtException' | 'unhandledRejection'

/** A caught failure as log fields: its message and, for people fixing it, where it came from. */
export function faultFields(error: unknown): LogFields {
  return error instanceof Error
    ? { error: error.message, stack: error.stack }
    : { error: String(error) }
}

/**
 * The process's last line: a throw or rejection nobody caught is logged with its stack, reported
 * to `onFault` (the host counts it: `hub.recordFault`), and the process keeps serving instead of
 * exiting. The hub catches failures in its own request and socket paths; this is for the rest.
 * Both the headless CLI and the desktop's main process install it. Returns the uninstaller.
 */
export function installSafetyNet(
  logger: Logger,
  onFault: (origin: ProcessFault, error: unknown) => void = () => {},
): () => void {
  const report = (origin: ProcessFault, error: unknown) => {
    try {
      logger.error('Unexpected failure; the hub keeps running', { origin, ...faultFields(error) })
      onFault(origin, error)
    } catch {
      // The logger or the host failed while reporting: nothing safer is left to do.
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
