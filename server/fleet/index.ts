import { createAdapter } from '@socket.io/redis-streams-adapter'
import { Counter, Gauge } from 'prom-client'
import type { Backplane, BackplaneStart } from '../backplane'
import type { Config } from '../config'
import type { Logger } from '../logger'
import type { SessionManager } from '../sessions/session-manager'
import { resolveKeys } from '../store/data-key'
import { redisKeys } from '../store/redis-keys'
import { RedisStore } from '../store/redis-store'
import { sealStore } from '../store/seal'
import { Leases } from './leases'
import { connectRedis, type FleetRedis } from './redis'
import { Registry } from './registry'
import { createFleetRouter, serveForwarded } from './router'
import { Rpc } from './rpc'

/**
 * One hub of a fleet on Redis (REDIS_URL): the store, the status registry, leases (one owner per
 * session, fenced), forwarding to owners, rooms across hubs (the Redis Streams adapter), failover
 * of the sessions of a hub that is gone, and handover on a graceful stop. docs/scaling.md tells it
 * whole.
 */
export async function openFleetBackplane(config: Config, logger: Logger): Promise<Backplane> {
  const redis = await connectRedis(config.redisUrl!, logger)
  try {
    return await onRedis(redis, config, logger)
  } catch (error) {
    await redis.close() // or a failed start would leave its connections reconnecting forever
    throw error
  }
}

async function onRedis(redis: FleetRedis, config: Config, logger: Logger): Promise<Backplane> {
  const instanceId = config.instanceId
  let manager: SessionManager | undefined
  let started: BackplaneStart | undefined
  const timers: NodeJS.Timeout[] = []

  const { keyring } = await resolveKeys(
    { dataDir: config.dataDir, dataKey: config.dataKey, previousKeys: config.dataKeyPrevious },
    logger,
  )
  const leases = new Leases({
    redis,
    instanceId,
    ttlMs: config.leaseTtlMs,
    logger,
    onLost: (id) => {
      leasesLost?.inc()
      manager?.evict(id)
    },
    onCount: (count) => {
      if (started) registry.setOwned(instanceId, count, config.leaseTtlMs).catch(() => undefined)
    },
  })
  const raw = new RedisStore(redis.durable, {
    fence: (id) => leases.fence(id),
    maxPendingWrites: config.storeWritesWaitingMax,
  })
  const store = sealStore(raw, keyring)
  const registry = new Registry(redis, keyring, logger)
  const subscriber = await redis.subscriber()
  let forwarded: Counter | undefined
  let leasesLost: Counter | undefined
  let takeovers: Counter | undefined
  const rpc = await Rpc.start({
    instanceId,
    publisher: redis.quick,
    subscriber,
    timeoutMs: config.forwardTimeoutMs,
    maxPending: config.forwardsWaitingMax,
    logger,
    onCall: (method, outcome) => forwarded?.inc({ method, outcome }),
  })

  // Sessions with stored data and no owner (their hub is gone, or the fleet is starting): the
  // least loaded hub takes them first, each waiting a little per session it owns already.
  let stopping = false
  let scan: Promise<void> | undefined
  let wakeScan: (() => void) | undefined
  let knownInstances = ''
  let orphanScansLeft = 0
  const takeOver = () => {
    if (scan || stopping || !manager) return scan
    scan = scanOnce(manager).finally(() => (scan = undefined))
    return scan
  }
  const scanOnce = async (sessions: SessionManager) => {
    try {
      const stored = await raw.accountIds()
      const free = await leases.unowned(stored.filter((id) => !sessions.has(id)))
      if (free.length > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(leases.count * 20, 2000))
          // A hub that stops does not wait out its turn.
          wakeScan = () => {
            clearTimeout(timer)
            resolve()
          }
        })
        wakeScan = undefined
        for (const id of free) {
          if (stopping) return
          try {
            if ((await sessions.adopt(id)) === 'resumed') {
              takeovers?.inc()
              logger.info('Took over a session whose hub is gone', { session_id: id })
            }
          } catch (error) {
            // Its lease is given back: the next round (here or on another hub) tries again.
            logger.warn('Could not take over a stored session; trying again later', {
              session_id: id,
              error,
            })
          }
        }
      }
      // Links left waiting for a scan only appear when a hub goes: look for them for a lease's
      // time after the set of live hubs changes, not on every round.
      const live = (await registry.instances())
        .map((info) => info.instance)
        .sort()
        .join(' ')
      if (live !== knownInstances) {
        knownInstances = live
        orphanScansLeft = 4
      }
      if (orphanScansLeft > 0) {
        orphanScansLeft -= 1
        await endOrphanedLinks(sessions, new Set(stored))
      }
    } catch (error) {
      logger.debug('Looking for sessions without an owner failed; trying again later', { error })
    }
  }

  // A link that was waiting for a scan on a hub that is gone left a status and nothing else: its
  // watchers hear it ended, once (whoever takes its lease says so), and the status goes.
  const endOrphanedLinks = async (sessions: SessionManager, stored: Set<string>) => {
    if (!started) return
    const candidates = (await registry.list()).filter(
      (status) => !stored.has(status.session_id) && !sessions.has(status.session_id),
    )
    const free = new Set(await leases.unowned(candidates.map((status) => status.session_id)))
    for (const status of candidates) {
      const id = status.session_id
      if (stopping || !free.has(id) || !(await leases.claim(id))) continue
      started.broadcaster.toSession(id, 'disconnected', {
        type: 'disconnected',
        session_id: id,
        reason: 'failed',
        message: 'The hub that held this link stopped before it was scanned; ask for a new code',
      })
      await registry.removeStatus(id, leases.fence(id)!).catch(() => undefined)
      await leases.release(id)
    }
  }

  return {
    store,
    fleet: true,
    adapter: createAdapter(redis.relay, {
      streamName: redisKeys.socketIo,
      channelPrefix: redisKeys.socketIo,
    }),
    ownership: {
      claim: (id) => leases.claim(id),
      release: (id) => leases.release(id),
      mayAct: (id) => leases.mayAct(id),
    },

    commands(sessionManager, local) {
      manager = sessionManager
      serveForwarded(rpc, local)
      return createFleetRouter({
        config,
        instanceId,
        manager: sessionManager,
        local,
        leases,
        registry,
        rpc,
      })
    },

    onStatus(status) {
      const fence = leases.fence(status.session_id)
      if (!fence) return
      registry.putStatus(status, fence).catch((error: unknown) =>
        logger.debug('Could not publish a session status to the fleet', {
          session_id: status.session_id,
          error,
        }),
      )
    },

    async onRemoved(id) {
      const fence = leases.fence(id)
      if (fence) await registry.removeStatus(id, fence)
    },

    start(context) {
      started = context
      const startedAt = new Date().toISOString()
      registerFleetMetrics()
      leases.start()
      const beat = () =>
        registry
          .heartbeat(
            {
              instance: instanceId,
              url: context.url,
              clients: context.clients(),
              owned: leases.count,
              started_at: startedAt,
            },
            config.leaseTtlMs,
          )
          .catch(() => undefined)
      void beat()
      const every = Math.max(100, Math.floor(config.leaseTtlMs / 3))
      timers.push(
        setInterval(beat, every),
        setInterval(() => void takeOver(), every),
      )
      for (const timer of timers) timer.unref()
      subscriber.on('message', (channel: string) => {
        if (channel !== redisKeys.released) return
        orphanScansLeft = 4
        void takeOver()
      })
      void subscriber.subscribe(redisKeys.released).catch(() => undefined)
      void takeOver()
    },

    health: () => ({ status: redis.state(), redis: redis.state() }),

    async clients(local) {
      try {
        const instances = await registry.instances()
        const others = instances.filter((info) => info.instance !== instanceId)
        return local + others.reduce((sum, info) => sum + info.clients, 0)
      } catch {
        return local
      }
    },

    async fleetStats() {
      return {
        instance: instanceId,
        redis: redis.state(),
        instances: await registry.instances().catch(() => []),
      }
    },

    // Before the sessions close: no new work. The others stop placing sessions here, no session
    // is taken over any more, and commands forwarded here are sent back to find another hub.
    async pause() {
      stopping = true
      wakeScan?.()
      for (const timer of timers.splice(0)) clearInterval(timer)
      await registry.leave(instanceId).catch(() => undefined)
      rpc.stopServing()
      await scan
    },

    // Graceful stop, once the sessions are closed and flushed: the leases go, and the other hubs
    // hear it and take the sessions over now rather than when the leases run out.
    async stop() {
      leases.stop()
      const owned = leases.owned()
      await Promise.all(owned.map((id) => leases.release(id)))
      if (owned.length > 0) {
        await redis.quick.publish(redisKeys.released, instanceId).catch(() => undefined)
        logger.info('Handed this hub’s sessions to the fleet', { sessions: owned.length })
      }
    },

    async close() {
      rpc.close()
      await redis.close()
    },
  }

  function registerFleetMetrics() {
    const registers = [started!.metrics.registry]
    // Every series this hub exports says which hub it is.
    started!.metrics.registry.setDefaultLabels({ instance: instanceId })
    forwarded = new Counter({
      name: 'wa_link_hub_fleet_forwarded_total',
      help: 'Commands forwarded to the hub that owns the session, by method and outcome',
      labelNames: ['method', 'outcome'],
      registers,
    })
    leasesLost = new Counter({
      name: 'wa_link_hub_fleet_leases_lost_total',
      help: 'Sessions this hub stopped acting for because another hub holds their lease',
      registers,
    })
    takeovers = new Counter({
      name: 'wa_link_hub_fleet_takeovers_total',
      help: 'Sessions this hub took over from a hub that is gone',
      registers,
    })
    new Gauge({
      name: 'wa_link_hub_fleet_owned_sessions',
      help: 'Sessions whose lease this hub holds',
      registers,
      collect() {
        this.set(leases.count)
      },
    })
    new Gauge({
      name: 'wa_link_hub_fleet_redis_up',
      help: '1 while this hub reaches Redis',
      registers,
      collect() {
        this.set(redis.state() === 'ok' ? 1 : 0)
      },
    })
    new Gauge({
      name: 'wa_link_hub_fleet_instances',
      help: 'Live hubs in the fleet (heartbeats)',
      registers,
      async collect() {
        this.set((await registry.instances().catch(() => [])).length)
      },
    })
    new Gauge({
      name: 'wa_link_hub_fleet_sessions',
      help: 'Sessions of the whole fleet, by status',
      labelNames: ['status'],
      registers,
      async collect() {
        const counts: Record<string, number> = {
          pending: 0,
          qr_ready: 0,
          authenticated: 0,
          disconnected: 0,
        }
        for (const status of await registry.list().catch(() => [])) counts[status.status]! += 1
        for (const [status, count] of Object.entries(counts)) this.set({ status }, count)
      },
    })
    new Gauge({
      name: 'wa_link_hub_fleet_forwards_waiting',
      help: 'Commands waiting for another hub to answer (FORWARDS_WAITING_MAX caps them)',
      registers,
      collect() {
        this.set(rpc.waiting)
      },
    })
    new Gauge({
      name: 'wa_link_hub_store_pending_writes',
      help: 'Store writes waiting for Redis',
      registers,
      collect() {
        this.set(raw.pendingWrites)
      },
    })
  }
}
