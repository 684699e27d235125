import type { LogFields, Logger } from '../../server/logger'

/** A logger that keeps every entry. */
export function recordingLogger() {
  const entries: { level: string; message: string; fields?: LogFields }[] = []
  const at = (level: string) => (message: string, fields?: LogFields) =>
    entries.push({ level, message, ...(fields ? { fields } : {}) })
  const logger: Logger = {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
  }
  return {
    logger,
    entries,
    find: (message: string) => entries.filter((e) => e.message === message),
  }
}
