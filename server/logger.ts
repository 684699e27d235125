import type { LogLevel } from './config'

export type LogFields = Record<string, unknown>

/** What the hub needs from a logger. The host (desktop app or CLI) passes one in. */
export interface Logger {
  debug(message: string, fields?: LogFields): void
  info(message: string, fields?: LogFields): void
  warn(message: string, fields?: LogFields): void
  error(message: string, fields?: LogFields): void
}

export interface LogEntry {
  /** ISO 8601 time. */
  time: string
  level: LogLevel
  message: string
  fields?: LogFields
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 }

export function levelEnabled(threshold: LogLevel, level: LogLevel): boolean {
  return RANK[level] >= RANK[threshold]
}

/** Renders fields as `key=value` pairs, quoting strings with spaces. */
export function formatFields(fields: LogFields | undefined): string {
  if (!fields) return ''
  const parts: string[] = []
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue
    const text =
      value instanceof Error
        ? value.message
        : typeof value === 'string'
          ? value
          : JSON.stringify(value)
    parts.push(`${key}=${/\s/.test(text) ? JSON.stringify(text) : text}`)
  }
  return parts.length > 0 ? ` ${parts.join(' ')}` : ''
}

/** Errors become their message, so entries survive structured cloning (IPC) and JSON. */
export function plainFields(fields: LogFields): LogFields {
  const out: LogFields = {}
  for (const [key, value] of Object.entries(fields)) {
    out[key] = value instanceof Error ? value.message : value
  }
  return out
}

/**
 * Logs through `target` and also hands each entry, as plain data, to `onEntry` (the hub's `log`
 * event, the desktop's ring buffer).
 */
export function teeLogger(
  target: Logger,
  threshold: LogLevel,
  onEntry: (entry: LogEntry) => void,
): Logger {
  const tee = (level: LogLevel) => (message: string, fields?: LogFields) => {
    if (!levelEnabled(threshold, level)) return
    target[level](message, fields)
    onEntry({
      time: new Date().toISOString(),
      level,
      message,
      ...(fields ? { fields: plainFields(fields) } : {}),
    })
  }
  return { debug: tee('debug'), info: tee('info'), warn: tee('warn'), error: tee('error') }
}

/** Line logger for headless mode: one line per entry on stdout (errors on stderr). */
export function createConsoleLogger(
  threshold: LogLevel,
  write: (level: LogLevel, line: string) => void = (level, line) =>
    (level === 'error' ? process.stderr : process.stdout).write(`${line}\n`),
): Logger {
  const log = (level: LogLevel) => (message: string, fields?: LogFields) => {
    if (!levelEnabled(threshold, level)) return
    write(
      level,
      `${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} ${message}${formatFields(fields)}`,
    )
  }
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') }
}

export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
}
