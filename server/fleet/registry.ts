import type { Redis } from 'ioredis'
import type { Logger } from '../logger'
import type { StatusEvent } from '../protocol'
import { decodeName, encodeName } from '../store/names'
import { redisKeys } from '../store/redis-keys'
import type { Keyring } from '../store/seal'
import type { FleetRedis } from './redis'

/** KEYS: lease, status hash. ARGV: fence, field, sealed status ('' deletes). */
const STATUS_SCRIPT = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('FENCED') end
if ARGV[3] == '' then return redis.call('HDEL', KEYS[2], ARGV[2]) end
return redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
`

interface RegistryRedis extends Redis {
  walhStatus(
    lease: string,
    hash: string,
    fence: string,
    field: string,
    value: Buffer | string,
  ): Promise<number>
}

export interface InstanceInfo {
  instance: string
  url: string
  clients: number
  owned: number
  started_at: string
}

const statusPlace = (id: string) => `status\0${id}`

/**
 * What every hub of the fleet can see: each session's last status (written by its owner, sealed
 * like the store, fenced by the lease) and each live instance's heartbeat (clients, sessions
 * owned), from which `list_sessions`, `/stats` and the choice of owner for new sessions are made.
 */
export class Registry {
  private readonly quick: Redis
  private readonly durable: RegistryRedis

  constructor(
    redis: FleetRedis,
    private readonly keyring: Keyring,
    private readonly logger: Logger,
  ) {
    this.quick = redis.quick
    redis.durable.defineCommand('walhStatus', { numberOfKeys: 2, lua: STATUS_SCRIPT })
    this.durable = redis.durable as RegistryRedis
  }

  /** Publishes a session's status; `fence` is the owner's lease. */
  async putStatus(status: StatusEvent, fence: string): Promise<void> {
    const sealed = this.keyring.seal(
      Buffer.from(JSON.stringify(status)),
      statusPlace(status.session_id),
    )
    await this.durable.walhStatus(
      redisKeys.lease(status.session_id),
      redisKeys.status,
      fence,
      encodeName(status.session_id),
      sealed,
    )
  }

  async removeStatus(sessionId: string, fence: string): Promise<void> {
    await this.durable.walhStatus(
      redisKeys.lease(sessionId),
      redisKeys.status,
      fence,
      encodeName(sessionId),
      '',
    )
  }

  async getStatus(sessionId: string): Promise<StatusEvent | undefined> {
    const sealed = await this.quick.hgetBuffer(redisKeys.status, encodeName(sessionId))
    return sealed ? this.open(sealed, sessionId) : undefined
  }

  async list(): Promise<StatusEvent[]> {
    const all = await this.quick.hgetallBuffer(redisKeys.status)
    const statuses: StatusEvent[] = []
    for (const [field, sealed] of Object.entries(all)) {
      const id = decodeName(field)
      const status = id === undefined ? undefined : this.open(sealed, id)
      if (status) statuses.push(status)
    }
    return statuses
  }

  async count(): Promise<number> {
    return this.quick.hlen(redisKeys.status)
  }

  async heartbeat(info: InstanceInfo, ttlMs: number): Promise<void> {
    const key = redisKeys.instance(info.instance)
    await this.quick
      .multi()
      .hset(key, { ...info, clients: String(info.clients), owned: String(info.owned) })
      .pexpire(key, ttlMs)
      .sadd(redisKeys.instances, info.instance)
      .exec()
  }

  /** Updates how many sessions an instance owns at once (its heartbeat repeats it). */
  async setOwned(instance: string, owned: number, ttlMs: number): Promise<void> {
    const key = redisKeys.instance(instance)
    await this.quick.multi().hset(key, 'owned', String(owned)).pexpire(key, ttlMs).exec()
  }

  async leave(instance: string): Promise<void> {
    await this.quick
      .multi()
      .del(redisKeys.instance(instance))
      .srem(redisKeys.instances, instance)
      .exec()
  }

  /** The live instances (their heartbeat has not expired); dead ones are dropped from the set. */
  async instances(): Promise<InstanceInfo[]> {
    const names = await this.quick.smembers(redisKeys.instances)
    if (names.length === 0) return []
    const pipeline = this.quick.pipeline()
    for (const name of names) pipeline.hgetall(redisKeys.instance(name))
    const answers = (await pipeline.exec()) ?? []
    const live: InstanceInfo[] = []
    const dead: string[] = []
    answers.forEach(([, value], index) => {
      const fields = value as Record<string, string> | null
      if (!fields?.instance) {
        dead.push(names[index]!)
        return
      }
      live.push({
        instance: fields.instance,
        url: fields.url ?? '',
        clients: Number(fields.clients ?? 0),
        owned: Number(fields.owned ?? 0),
        started_at: fields.started_at ?? '',
      })
    })
    if (dead.length > 0) await this.quick.srem(redisKeys.instances, ...dead).catch(() => undefined)
    return live
  }

  private open(sealed: Buffer, sessionId: string): StatusEvent | undefined {
    try {
      return JSON.parse(
        this.keyring.unseal(sealed, statusPlace(sessionId)).toString('utf8'),
      ) as StatusEvent
    } catch (error) {
      this.logger.warn('Ignoring a session status that cannot be read', {
        session_id: sessionId,
        error,
      })
      return undefined
    }
  }
}
