import { Redis, type RedisOptions } from 'ioredis'
import type { Logger } from '../logger'

export type RedisState = 'ok' | 'degraded'

export interface FleetRedis {
  /**
   * Commands that must not be lost: store writes. While Redis is away they wait (in order) and go
   * out when it is back; `pending` says how many wait, and callers cap it.
   */
  readonly durable: Redis
  /** Commands that answer now or fail now (reads, lease renewal): nothing queues while Redis is away. */
  readonly quick: Redis
  /**
   * For the Socket.IO adapter and pub/sub: commands wait while Redis is away, but only until the
   * next reconnection attempt fails (then they fail and are sent again), so nothing piles up and
   * nothing spins.
   */
  readonly relay: Redis
  /** A new connection like `relay`, for a subscriber. */
  subscriber(): Promise<Redis>
  state(): RedisState
  onState(listener: (state: RedisState) => void): void
  close(): Promise<void>
}

export class RedisUnavailableError extends Error {
  constructor(url: string, reason: string) {
    super(`Redis is not reachable at ${redactUrl(url)}: ${reason} (REDIS_URL)`)
    this.name = 'RedisUnavailableError'
  }
}

/** How long a first connection may take before start-up gives up. */
const CONNECT_TIMEOUT_MS = 5000

/**
 * Connects to the fleet's Redis. Unreachable at start: a RedisUnavailableError (start-up stops
 * with one line). Lost later: the state turns `degraded`, ioredis reconnects with backoff, and the
 * state is `ok` again once both connections are ready.
 */
export async function connectRedis(url: string, logger: Logger): Promise<FleetRedis> {
  const base: RedisOptions = {
    connectTimeout: CONNECT_TIMEOUT_MS,
    lazyConnect: true,
    // Reconnect forever, at most every 2 s: a fleet outlives a Redis restart.
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 2000),
  }
  const durable = new Redis(url, { ...base, maxRetriesPerRequest: null, enableOfflineQueue: true })
  const quick = new Redis(url, { ...base, maxRetriesPerRequest: 0, enableOfflineQueue: false })
  const relay = new Redis(url, { ...base, maxRetriesPerRequest: 1, enableOfflineQueue: true })
  const clients = [durable, quick, relay]
  const extra: Redis[] = []
  // Errors are reported through the state; without a listener ioredis would print each one.
  for (const client of clients) client.on('error', () => undefined)
  try {
    await Promise.all(clients.map((client) => client.connect()))
  } catch (error) {
    for (const client of clients) client.disconnect()
    throw new RedisUnavailableError(url, (error as Error).message)
  }

  const listeners = new Set<(state: RedisState) => void>()
  let current: RedisState = 'ok'
  let closing = false
  const update = () => {
    if (closing) return // the hub is stopping: the connections close on purpose
    const next: RedisState = clients.every((client) => client.status === 'ready')
      ? 'ok'
      : 'degraded'
    if (next === current) return
    current = next
    if (next === 'degraded')
      logger.error('Lost the connection to Redis; serving what this hub owns')
    else logger.info('Connected to Redis again')
    for (const listener of listeners) listener(next)
  }
  for (const client of clients) {
    for (const event of ['ready', 'close', 'end', 'reconnecting']) client.on(event, update)
  }
  return {
    durable,
    quick,
    relay,
    async subscriber() {
      const client = relay.duplicate()
      client.on('error', () => undefined)
      extra.push(client)
      await client.connect()
      return client
    },
    state: () => current,
    onState: (listener) => void listeners.add(listener),
    async close() {
      closing = true
      await Promise.all(
        [...clients, ...extra].map((client) => client.quit().catch(() => client.disconnect())),
      )
    },
  }
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    return parsed.toString()
  } catch {
    return 'REDIS_URL'
  }
}
