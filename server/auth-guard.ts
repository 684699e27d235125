import type { Logger } from './logger'
import type { AuthKind, HubMetrics } from './metrics'
import { sampledLog } from './sampled-log'

const WINDOW_MS = 60_000
const BLOCK_MS = 60_000
const LOG_EVERY_MS = 1000
/** Lines about refused tokens per second, all addresses together; the rest are summed up. */
const LINES_PER_S = 10

interface AddressRecord {
  windowStart: number
  failures: number
  blockedUntil: number
  loggedAt: number
  /** Failures since the last log line about this address. */
  unlogged: number
}

export interface AuthGuard {
  /** Whether `address` is refused for now after too many failures; counts each refusal. */
  blocked(address: string, kind: AuthKind): boolean
  /** Records a missing or wrong token from `address`. */
  failed(address: string, kind: AuthKind): void
  /** Addresses remembered now. */
  readonly size: number
}

export interface AuthGuardOptions {
  failuresPerMinute: number
  maxAddresses: number
  logger: Logger
  metrics: HubMetrics
}

/**
 * Unauthenticated traffic, per address: counted, logged at most once a second with a count (and
 * at most LINES_PER_S lines a second in all), and refused for a minute once an address has failed
 * `failuresPerMinute` times within a minute. The table is a bounded LRU (a Map keeps insertion
 * order: a touched address moves to the end, the first one is the least recently seen), so a flood
 * from many addresses cannot grow it.
 */
export function createAuthGuard(options: AuthGuardOptions): AuthGuard {
  const { failuresPerMinute, maxAddresses, logger, metrics } = options
  const records = new Map<string, AddressRecord>()
  // Per address at most a line a second; across many addresses (a scan of the network) a few
  // lines a second and a sum, so a flood cannot fill the log.
  const logRefused = sampledLog(logger, 'Refused a missing or wrong access token', LINES_PER_S, {
    level: 'warn',
  })
  const logBlocked = sampledLog(
    logger,
    'Refusing an address for a minute after too many wrong tokens',
    LINES_PER_S,
    { level: 'warn' },
  )

  const touch = (address: string, now: number): AddressRecord => {
    let record = records.get(address)
    if (record) {
      records.delete(address)
    } else {
      record = { windowStart: now, failures: 0, blockedUntil: 0, loggedAt: 0, unlogged: 0 }
      if (records.size >= maxAddresses) {
        records.delete(records.keys().next().value as string)
        metrics.authAddressEvicted()
      }
    }
    records.set(address, record)
    return record
  }

  return {
    blocked(address, kind) {
      const record = records.get(address)
      if (!record || record.blockedUntil <= Date.now()) return false
      metrics.authRateLimited(kind)
      return true
    },
    failed(address, kind) {
      const now = Date.now()
      metrics.authFailure(kind)
      const record = touch(address, now)
      if (now - record.windowStart >= WINDOW_MS) {
        record.windowStart = now
        record.failures = 0
      }
      record.failures += 1
      record.unlogged += 1
      if (now - record.loggedAt >= LOG_EVERY_MS) {
        logRefused({
          address,
          kind,
          failures: record.unlogged,
        })
        record.loggedAt = now
        record.unlogged = 0
      }
      if (record.failures >= failuresPerMinute && record.blockedUntil <= now) {
        record.blockedUntil = now + BLOCK_MS
        logBlocked({
          address,
          failures: record.failures,
          limit: failuresPerMinute,
        })
      }
    },
    get size() {
      return records.size
    },
  }
}
