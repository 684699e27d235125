import { performance } from 'node:perf_hooks'
import type { Redis } from 'ioredis'
import type { Logger } from '../logger'
import { redisKeys } from '../store/redis-keys'
import type { FleetRedis } from './redis'

/**
 * KEYS: lease, holder, fence counter. ARGV: instance, ttl. A new lease gets a token no lease had;
 * the holder key remembers who took it last (it has no TTL).
 */
const CLAIM_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local value = ARGV[1] .. '|' .. redis.call('INCR', KEYS[3])
redis.call('SET', KEYS[1], value, 'PX', ARGV[2])
redis.call('SET', KEYS[2], value)
return value
`

/**
 * KEYS: lease and holder of each lease to renew. ARGV: their expected values, then the ttl.
 * Per lease: 1 (renewed; also when it had lapsed but nobody took it since, as the holder key
 * shows: the same token stays valid), or 0 (someone else took it: lost).
 */
const RENEW_SCRIPT = `
local n = #KEYS / 2
local ttl = ARGV[n + 1]
local out = {}
for i = 1, n do
  local lease = KEYS[2 * i - 1]
  local current = redis.call('GET', lease)
  if current == ARGV[i] then
    redis.call('PEXPIRE', lease, ttl)
    out[i] = 1
  elseif not current and redis.call('GET', KEYS[2 * i]) == ARGV[i] then
    redis.call('SET', lease, ARGV[i], 'PX', ttl)
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
`

/** KEYS: lease, holder. ARGV: value. Gives the lease up only if it is still this one. */
const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[2])
  return redis.call('DEL', KEYS[1])
end
return 0
`

interface LeaseRedis extends Redis {
  walhClaim(
    lease: string,
    holder: string,
    fence: string,
    instance: string,
    ttl: number,
  ): Promise<string | null>
  walhRenew(...args: (string | number)[]): Promise<number[]>
  walhRelease(lease: string, holder: string, value: string): Promise<number>
}

interface Held {
  value: string
  /** performance.now() when Redis last confirmed the lease. */
  confirmedAt: number
}

export interface LeaseOptions {
  redis: FleetRedis
  instanceId: string
  ttlMs: number
  logger: Logger
  /** A lease was found to be someone else's: stop acting for that session at once. */
  onLost(sessionId: string): void
  /** How many leases this hub holds changed (new sessions go to the hub holding the fewest). */
  onCount?(count: number): void
  now?: () => number
}

/**
 * One owner per session: a lease in Redis (`SET NX PX`), renewed every third of its TTL and
 * fenced by a token (`<instance>|<n>`, n from one counter) that the store's writes must match.
 *
 * `mayAct` is the local half of the fence. A hub that was paused (SIGSTOP, a long GC, a laptop
 * lid) past its TTL does not act for its sessions until Redis confirms it still holds them: by
 * then another hub may own them. While Redis itself is unreachable nobody can take a lease over,
 * so the hub goes on serving what it owns.
 */
export class Leases {
  private readonly held = new Map<string, Held>()
  private readonly claiming = new Map<string, Promise<boolean>>()
  private readonly redis: LeaseRedis
  private readonly now: () => number
  private timer?: NodeJS.Timeout

  constructor(private readonly options: LeaseOptions) {
    const quick = options.redis.quick
    quick.defineCommand('walhClaim', { numberOfKeys: 3, lua: CLAIM_SCRIPT })
    quick.defineCommand('walhRenew', { lua: RENEW_SCRIPT })
    quick.defineCommand('walhRelease', { numberOfKeys: 2, lua: RELEASE_SCRIPT })
    this.redis = quick as LeaseRedis
    this.now = options.now ?? (() => performance.now())
  }

  get count(): number {
    return this.held.size
  }

  owned(): string[] {
    return [...this.held.keys()]
  }

  /** Takes the session's lease if nobody holds it; true when this hub holds it now. */
  claim(sessionId: string): Promise<boolean> {
    if (this.held.has(sessionId)) return Promise.resolve(true)
    const inFlight = this.claiming.get(sessionId)
    if (inFlight) return inFlight
    const claim = this.redis
      .walhClaim(
        redisKeys.lease(sessionId),
        redisKeys.holder(sessionId),
        redisKeys.fence,
        this.options.instanceId,
        this.options.ttlMs,
      )
      .then((value) => {
        if (value === null) return false
        this.held.set(sessionId, { value, confirmedAt: this.now() })
        this.options.onCount?.(this.held.size)
        return true
      })
      .finally(() => this.claiming.delete(sessionId))
    this.claiming.set(sessionId, claim)
    return claim
  }

  /** The lease value this hub's writes for the session must carry; undefined when not its own. */
  fence(sessionId: string): string | undefined {
    return this.mayAct(sessionId) ? this.held.get(sessionId)?.value : undefined
  }

  mayAct(sessionId: string): boolean {
    const held = this.held.get(sessionId)
    if (!held) return false
    if (this.options.redis.state() === 'degraded') return true
    return this.now() - held.confirmedAt < this.options.ttlMs
  }

  /** Which instance holds the session's lease, if any (asks Redis). */
  async ownerOf(sessionId: string): Promise<string | undefined> {
    if (this.held.has(sessionId)) return this.options.instanceId
    const value = await this.redis.get(redisKeys.lease(sessionId))
    return value === null ? undefined : value.slice(0, value.lastIndexOf('|'))
  }

  /** Which of `sessionIds` nobody holds (asks Redis). */
  async unowned(sessionIds: string[]): Promise<string[]> {
    if (sessionIds.length === 0) return []
    const values = await this.redis.mget(sessionIds.map((id) => redisKeys.lease(id)))
    return sessionIds.filter((_, index) => values[index] === null)
  }

  async release(sessionId: string): Promise<void> {
    const held = this.held.get(sessionId)
    if (!held) return
    this.held.delete(sessionId)
    this.options.onCount?.(this.held.size)
    await this.redis
      .walhRelease(redisKeys.lease(sessionId), redisKeys.holder(sessionId), held.value)
      .catch(() => undefined)
  }

  start(): void {
    const every = Math.max(50, Math.floor(this.options.ttlMs / 3))
    const tick = () => {
      this.renew().catch((error: unknown) =>
        this.options.logger.debug('Lease renewal failed; trying again', { error }),
      )
      this.timer = setTimeout(tick, every)
      this.timer.unref()
    }
    this.timer = setTimeout(tick, every)
    this.timer.unref()
  }

  stop(): void {
    clearTimeout(this.timer)
    this.timer = undefined
  }

  /** Renews every lease held; reports the ones someone else holds now. */
  async renew(): Promise<void> {
    const entries = [...this.held.entries()]
    if (entries.length === 0) return
    const startedAt = this.now()
    const answers = await this.redis.walhRenew(
      entries.length * 2,
      ...entries.flatMap(([id]) => [redisKeys.lease(id), redisKeys.holder(id)]),
      ...entries.map(([, held]) => held.value),
      this.options.ttlMs,
    )
    entries.forEach(([id, held], index) => {
      if (this.held.get(id) !== held) return // released meanwhile
      if (answers[index] === 1) {
        held.confirmedAt = startedAt
        return
      }
      this.held.delete(id)
      this.options.onCount?.(this.held.size)
      this.options.logger.warn('Another hub owns this session now; this hub stops acting for it', {
        session_id: id,
      })
      this.options.onLost(id)
    })
  }
}
