import log from 'electron-log/node'
import { join } from 'node:path'
import type { LogEntry, LogLevel } from '../preload/api'
import { formatFields, teeLogger, type Logger } from '../server/logger'

export const RING_SIZE = 1000

export interface AppLogger {
  /** Writes to the log file (and console in development) only; for the hub, whose entries
   *  already reach the window as hub events. */
  file: Logger
  /** Main's own logger: file, plus the ring buffer and the window. */
  app: Logger
  /** Keeps an entry for the window: the ring buffer and the live listeners. */
  record(entry: LogEntry): void
  recent(limit?: number): LogEntry[]
  onEntry(listener: (entry: LogEntry) => void): () => void
  readonly folder: string
}

/**
 * One logger for the app: electron-log writes `main.log` in the app's logs folder (console too in
 * development); the last RING_SIZE entries stay in memory for the UI.
 */
export function createAppLogger(options: {
  folder: string
  level: LogLevel
  console: boolean
}): AppLogger {
  log.transports.file.resolvePathFn = () => join(options.folder, 'main.log')
  log.transports.file.level = options.level
  log.transports.console.level = options.console ? options.level : false

  const ring: LogEntry[] = []
  const listeners = new Set<(entry: LogEntry) => void>()

  const file: Logger = {
    debug: (message, fields) => log.debug(`${message}${formatFields(fields)}`),
    info: (message, fields) => log.info(`${message}${formatFields(fields)}`),
    warn: (message, fields) => log.warn(`${message}${formatFields(fields)}`),
    error: (message, fields) => log.error(`${message}${formatFields(fields)}`),
  }

  const record = (entry: LogEntry) => {
    ring.push(entry)
    if (ring.length > RING_SIZE) ring.splice(0, ring.length - RING_SIZE)
    for (const listener of listeners) listener(entry)
  }

  return {
    file,
    app: teeLogger(file, options.level, record),
    record,
    recent: (limit = RING_SIZE) => ring.slice(-Math.max(0, Math.min(limit, RING_SIZE))),
    onEntry(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    folder: options.folder,
  }
}
