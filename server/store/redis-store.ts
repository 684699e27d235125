import type { Redis } from 'ioredis'
import { HubError } from '../errors'
import { decodeName, encodeName } from './names'
import { redisKeys } from './redis-keys'
import type { Namespace, Store } from './store'

/** A write refused because this hub no longer holds the account's lease. */
export class FencedError extends Error {
  constructor(readonly accountId: string) {
    super(`this hub no longer owns session ${accountId}; the write was refused`)
    this.name = 'FencedError'
  }
}

/** Redis is slow or away and STORE_WRITES_WAITING_MAX writes wait: the client is told to retry. */
export class StoreBackloggedError extends HubError {
  constructor(limit: number) {
    super('unavailable', `${limit} writes are already waiting for Redis; this one was refused`)
    this.name = 'StoreBackloggedError'
  }
}

/**
 * Applies an account's changes in one step, and only for the lease holder: the script compares
 * the lease with the writer's before touching anything, so an owner that lost its lease (paused,
 * cut off) cannot write over its successor.
 * KEYS: lease, account hash, accounts set. ARGV: fence ('' = none), encoded id, then triplets of
 * op ('s' set / 'd' delete), field, value.
 */
const WRITE_SCRIPT = `
if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('FENCED')
end
for i = 3, #ARGV, 3 do
  if ARGV[i] == 's' then redis.call('HSET', KEYS[2], ARGV[i + 1], ARGV[i + 2])
  else redis.call('HDEL', KEYS[2], ARGV[i + 1]) end
end
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('SADD', KEYS[3], ARGV[2])
else redis.call('SREM', KEYS[3], ARGV[2]) end
return 1
`

/** KEYS: lease, account hash, accounts set. ARGV: fence ('' = none), encoded id. */
const REMOVE_SCRIPT = `
if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('FENCED')
end
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[3], ARGV[2])
return 1
`

type Change = readonly [string, Buffer | null]

interface FencedRedis extends Redis {
  walhWrite(keys: [string, string, string], args: (string | Buffer)[]): Promise<number>
  walhRemove(keys: [string, string, string], args: string[]): Promise<number>
}

export interface RedisStoreOptions {
  /**
   * The lease value that lets this hub write an account (`undefined`: it does not own it, the
   * write is refused). Without it, writes are not fenced (tools, tests).
   */
  fence?: (accountId: string) => string | undefined
  /** Writes that may wait for Redis at once; more are refused (an outage must not eat memory). */
  maxPendingWrites?: number
}

/** STORE_WRITES_WAITING_MAX's default, for stores made outside a hub (tools, tests). */
const DEFAULT_PENDING_WRITES = 10_000

interface Life {
  removed: boolean
}

/**
 * The fleet's store: one Redis hash per account, sealed values in fields named like the file
 * store's file names. Writes of one account are one script each (atomic, fenced by the lease),
 * sent in call order on one connection, which waits while Redis is away and resumes in order.
 */
export class RedisStore implements Store {
  private readonly redis: FencedRedis
  private readonly lives = new Map<string, Life>()
  private pending = 0
  readonly hub: Namespace

  constructor(
    redis: Redis,
    private readonly options: RedisStoreOptions = {},
  ) {
    redis.defineCommand('walhWrite', { numberOfKeys: 3, lua: WRITE_SCRIPT })
    redis.defineCommand('walhRemove', { numberOfKeys: 3, lua: REMOVE_SCRIPT })
    this.redis = redis as FencedRedis
    this.hub = this.namespace(redisKeys.hub, async (changes) => {
      const multi = this.redis.multi()
      for (const [key, value] of changes) {
        if (value) multi.hset(redisKeys.hub, encodeName(key), value)
        else multi.hdel(redisKeys.hub, encodeName(key))
      }
      // exec() resolves even when a command in it failed: each answer carries its own error.
      for (const [error] of (await multi.exec()) ?? []) if (error) throw error
    })
  }

  /** Writes waiting for Redis now (a gauge in /metrics). */
  get pendingWrites(): number {
    return this.pending
  }

  account(id: string): Namespace {
    let life = this.lives.get(id)
    if (!life) {
      life = { removed: false }
      this.lives.set(id, life)
    }
    const handle = life
    return this.namespace(redisKeys.account(id), async (changes) => {
      if (handle.removed) return
      const args: (string | Buffer)[] = [this.fenceOf(id), encodeName(id)]
      for (const [key, value] of changes) args.push(value ? 's' : 'd', encodeName(key), value ?? '')
      await this.redis
        .walhWrite([redisKeys.lease(id), redisKeys.account(id), redisKeys.accounts], args)
        .catch((error: unknown) => this.rethrow(error, id))
    })
  }

  async accountIds(): Promise<string[]> {
    const names = await this.redis.smembers(redisKeys.accounts)
    return names.map(decodeName).filter((id): id is string => id !== undefined)
  }

  async removeAccount(id: string): Promise<void> {
    const life = this.lives.get(id)
    if (life) life.removed = true
    this.lives.delete(id)
    await this.track(() =>
      this.redis
        .walhRemove(
          [redisKeys.lease(id), redisKeys.account(id), redisKeys.accounts],
          [this.fenceOf(id), encodeName(id)],
        )
        .catch((error: unknown) => this.rethrow(error, id)),
    )
  }

  /** Every write sent so far has been answered: they go out in order on one connection. */
  async flush(): Promise<void> {
    await this.redis.ping()
  }

  async close(): Promise<void> {
    await this.flush()
  }

  private fenceOf(id: string): string {
    if (!this.options.fence) return ''
    const fence = this.options.fence(id)
    if (fence === undefined) throw new FencedError(id)
    return fence
  }

  private rethrow(error: unknown, id: string): never {
    if (error instanceof Error && /FENCED/.test(error.message)) throw new FencedError(id)
    throw error
  }

  private async track<T>(send: () => Promise<T>): Promise<T> {
    const limit = this.options.maxPendingWrites ?? DEFAULT_PENDING_WRITES
    if (this.pending >= limit) throw new StoreBackloggedError(limit)
    this.pending += 1
    try {
      return await send()
    } finally {
      this.pending -= 1
    }
  }

  private namespace(hash: string, apply: (changes: Change[]) => Promise<void>): Namespace {
    const redis = this.redis
    const fields = async (prefix: string) =>
      (await redis.hkeys(hash))
        .map((name) => ({ name, key: decodeName(name) }))
        .filter(
          (entry): entry is { name: string; key: string } =>
            entry.key !== undefined && entry.key.startsWith(prefix),
        )
    return {
      get: async (key) => (await redis.hgetBuffer(hash, encodeName(key))) ?? undefined,
      async getMany(keys) {
        const found = new Map<string, Buffer>()
        if (keys.length === 0) return found
        const values = await redis.hmgetBuffer(hash, ...keys.map(encodeName))
        keys.forEach((key, index) => {
          const value = values[index]
          if (value) found.set(key, value)
        })
        return found
      },
      write: (changes) => {
        const list = [...changes]
        return list.length === 0 ? Promise.resolve() : this.track(() => apply(list))
      },
      keys: async (prefix = '') => (await fields(prefix)).map((entry) => entry.key),
      usage: async (prefix = '') => {
        const found = await fields(prefix)
        if (found.length === 0) return { entries: 0, bytes: 0 }
        const pipeline = redis.pipeline()
        for (const { name } of found) pipeline.hstrlen(hash, name)
        const sizes = (await pipeline.exec()) ?? []
        const bytes = sizes.reduce((sum, [, size]) => sum + Number(size ?? 0), 0)
        return { entries: found.length, bytes }
      },
    }
  }
}
