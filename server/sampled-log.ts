import type { LogFields, Logger } from './logger'

/**
 * A log line that can come hundreds of times a second (a client connected): the first `perSecond`
 * of each second are logged as they are, the rest only counted and summed up in one line when the
 * second is over. A person watching a few clients sees each one; a flood of them costs a counter.
 */
export function sampledLog(
  logger: Logger,
  message: string,
  perSecond: number,
  { level = 'info', now = Date.now }: { level?: 'info' | 'warn'; now?: () => number } = {},
): (fields: LogFields) => void {
  let windowStart = 0
  let logged = 0
  let skipped = 0
  let timer: NodeJS.Timeout | undefined
  const summarize = () => {
    timer = undefined
    if (skipped > 0) logger[level](`${message} (${skipped} more in that second, not listed)`)
    skipped = 0
  }
  return (fields) => {
    const at = now()
    if (at - windowStart >= 1000) {
      windowStart = at
      logged = 0
    }
    if (logged < perSecond) {
      logged += 1
      logger[level](message, fields)
      return
    }
    skipped += 1
    if (!timer) {
      timer = setTimeout(summarize, 1000 - (at - windowStart))
      timer.unref()
    }
  }
}
