import {
  DEFAULT_CONNECTION_CONFIG,
  fetchLatestBaileysVersion,
  fetchLatestWaWebVersion,
  type WAVersion,
} from '@whiskeysockets/baileys'
import type { Logger } from '../logger'
import type { VersionLookupResult } from '../metrics'

/** Baileys' lookups: they never throw; a failure returns the bundled version with `error`. */
export type VersionLookup = (options?: RequestInit) => Promise<{
  version: WAVersion
  isLatest: boolean
  error?: unknown
}>

export interface VersionLookups {
  waWeb: VersionLookup
  baileys: VersionLookup
}

export const BAILEYS_VERSION_LOOKUPS: VersionLookups = {
  waWeb: fetchLatestWaWebVersion,
  baileys: fetchLatestBaileysVersion,
}

/** A lookup gives up after this long; the version at hand is used meanwhile. */
export const VERSION_LOOKUP_TIMEOUT_MS = 3000
/** A version this old is looked up again (in the background) when a connection starts. */
export const VERSION_MAX_AGE_MS = 6 * 3600_000
/** Lookups closer together than this reuse the last answer (a burst of 405s asks once). */
export const VERSION_LOOKUP_MIN_INTERVAL_MS = 60_000

export interface KnownVersion {
  version: WAVersion
  /** Where it came from: `bundled` until a lookup succeeds. */
  source: 'bundled' | 'wa_web' | 'baileys'
  /** When it was looked up (0 for the bundled one). */
  at: number
}

export interface VersionSource {
  /** The version to connect with now: the last looked-up one, or Baileys' bundled one. */
  current(): WAVersion
  /** Looks the version up (at most once a minute; concurrent callers share one lookup). */
  refresh(): Promise<KnownVersion>
}

/**
 * The WhatsApp Web version the provider connects with. WhatsApp refuses outdated clients (close
 * code 405, a server `<failure reason="405">`, socket.js:798-801), so the current one is looked up:
 * WhatsApp Web's own service worker first (`fetchLatestWaWebVersion`, generics.js:218-259), the
 * version Baileys' master pins second (`fetchLatestBaileysVersion`, :179-213, which can lag and
 * breaks whenever that file's layout changes). Neither throws; both report failure with
 * `isLatest: false` and `error`. Connections never wait for a lookup.
 */
export function createVersionSource(options: {
  lookups: VersionLookups
  logger: Logger
  onLookup?: (result: VersionLookupResult) => void
  now?: () => number
  timeoutMs?: number
}): VersionSource {
  const { lookups, logger, onLookup } = options
  const now = options.now ?? Date.now
  const timeoutMs = options.timeoutMs ?? VERSION_LOOKUP_TIMEOUT_MS
  let known: KnownVersion = { version: DEFAULT_CONNECTION_CONFIG.version, source: 'bundled', at: 0 }
  let lastLookupAt = -Infinity
  let inFlight: Promise<KnownVersion> | undefined

  // fetchLatestBaileysVersion forwards no `signal` (generics.js:182-186): a race bounds it.
  const bounded = (lookup: VersionLookup) =>
    Promise.race([
      lookup({ signal: AbortSignal.timeout(timeoutMs) }),
      new Promise<{ version: WAVersion; isLatest: false; error: Error }>((resolve) =>
        setTimeout(
          () => resolve({ version: known.version, isLatest: false, error: new Error('timed out') }),
          timeoutMs,
        ).unref(),
      ),
    ])

  const lookUp = async (): Promise<KnownVersion> => {
    lastLookupAt = now()
    const waWeb = await bounded(lookups.waWeb)
    if (waWeb.isLatest && !waWeb.error) return adopt(waWeb.version, 'wa_web')
    const baileys = await bounded(lookups.baileys)
    if (baileys.isLatest && !baileys.error) return adopt(baileys.version, 'baileys')
    onLookup?.('failed')
    logger.warn('Could not look up the current WhatsApp Web version; using the one at hand', {
      version: known.version.join('.'),
      wa_web_error: describe(waWeb.error),
      baileys_error: describe(baileys.error),
    })
    return known
  }

  const adopt = (version: WAVersion, source: 'wa_web' | 'baileys'): KnownVersion => {
    onLookup?.(source)
    if (version.join('.') !== known.version.join('.')) {
      logger.info('Using WhatsApp Web version', { version: version.join('.'), source })
    }
    known = { version, source, at: now() }
    return known
  }

  const refresh = (): Promise<KnownVersion> => {
    if (inFlight) return inFlight
    if (now() - lastLookupAt < VERSION_LOOKUP_MIN_INTERVAL_MS) return Promise.resolve(known)
    inFlight = lookUp().finally(() => {
      inFlight = undefined
    })
    return inFlight
  }

  return {
    current() {
      if (now() - known.at >= VERSION_MAX_AGE_MS) void refresh()
      return known.version
    },
    refresh,
  }
}

function describe(error: unknown): string | undefined {
  if (error === undefined) return undefined
  if (error instanceof Error) return error.message
  const message = (error as { message?: unknown } | null)?.message
  return message === undefined ? String(error) : String(message)
}
