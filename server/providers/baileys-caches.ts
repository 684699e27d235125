import { DEFAULT_CACHE_TTLS, type CacheStore } from '@whiskeysockets/baileys'

/**
 * Baileys' CacheStore in memory, capped: at most `maxEntries` (the least recently written goes
 * first) and each entry lives `ttlMs` from its last write, as Baileys' own NodeCache does
 * (`stdTTL`, `useClones: false`). No timers: expired entries go when read or pushed out.
 */
export class BoundedCache implements CacheStore {
  private readonly entries = new Map<string, { value: unknown; expires: number }>()

  constructor(
    readonly maxEntries: number,
    readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.entries.size
  }

  get<T>(key: string): T | undefined {
    const entry = this.entries.get(key)
    if (!entry) return undefined
    if (entry.expires <= this.now()) {
      this.entries.delete(key)
      return undefined
    }
    return entry.value as T
  }

  set<T>(key: string, value: T): void {
    this.entries.delete(key)
    this.entries.set(key, { value, expires: this.now() + this.ttlMs })
    while (this.entries.size > this.maxEntries) {
      this.entries.delete(this.entries.keys().next().value as string)
    }
  }

  del(key: string): void {
    this.entries.delete(key)
  }

  flushAll(): void {
    this.entries.clear()
  }
}

/** Entries each account's caches hold at most. */
export const CACHE_LIMITS = {
  msgRetry: 10_000,
  userDevices: 5000,
  callOffer: 500,
  placeholderResend: 5000,
  signalKeys: 5000,
} as const

export type AccountCaches = { [K in keyof typeof CACHE_LIMITS]: BoundedCache }

/**
 * The caches Baileys would otherwise make per socket and close at each socket's end
 * (messages-recv.js:27-36, messages-send.js:24-28, chats.js:56-60, auth-utils.js:18-23): one set
 * per account, so they outlive reconnects. That matters most for `msgRetryCounterCache`, whose
 * counts (keyed `${msgId}:${participant}`, messages-recv.js:1030-1039) cap retries
 * (`maxMsgRetryCount`): reset on every reconnect, a flapping link would retry without end.
 * Baileys closes only the caches it made itself (messages-recv.js:1691-1697).
 */
export function createAccountCaches(now: () => number = Date.now): AccountCaches {
  const ttl = (seconds: number) => seconds * 1000
  return {
    msgRetry: new BoundedCache(CACHE_LIMITS.msgRetry, ttl(DEFAULT_CACHE_TTLS.MSG_RETRY), now),
    userDevices: new BoundedCache(
      CACHE_LIMITS.userDevices,
      ttl(DEFAULT_CACHE_TTLS.USER_DEVICES),
      now,
    ),
    callOffer: new BoundedCache(CACHE_LIMITS.callOffer, ttl(DEFAULT_CACHE_TTLS.CALL_OFFER), now),
    // chats.js:56-60 gives it the retry TTL (1 h).
    placeholderResend: new BoundedCache(
      CACHE_LIMITS.placeholderResend,
      ttl(DEFAULT_CACHE_TTLS.MSG_RETRY),
      now,
    ),
    signalKeys: new BoundedCache(
      CACHE_LIMITS.signalKeys,
      ttl(DEFAULT_CACHE_TTLS.SIGNAL_STORE),
      now,
    ),
  }
}
