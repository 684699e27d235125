import { randomUUID } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'
import type { Config } from '../config'
import { HubError } from '../errors'
import type { StatusEvent } from '../protocol'
import { LinkSlots } from '../sessions/link-slots'
import type { LinkAnswer, SessionCommands } from '../sessions/session-commands'
import { emptyCounts, OwnedElsewhereError, type SessionManager } from '../sessions/session-manager'
import type { Leases } from './leases'
import type { Registry } from './registry'
import type { Rpc } from './rpc'

/** How often a command follows an owner that changed under it before giving up. */
const ATTEMPTS = 4
/** Waits between attempts: 100, 300, 900 ms. */
const RETRY_BASE_MS = 100

const waitingForScan = (status: StatusEvent | undefined) =>
  status?.status === 'pending' || status?.status === 'qr_ready'

export interface FleetRouterOptions {
  config: Config
  instanceId: string
  manager: SessionManager
  local: SessionCommands
  leases: Leases
  registry: Registry
  rpc: Rpc
}

/**
 * Session commands in a fleet: answered here for the sessions this hub owns, forwarded to the
 * owner for the others, and new sessions placed on the hub that owns the fewest. The asking
 * connection joins the session's room on this hub, so it hears the owner's events through the
 * Socket.IO adapter wherever the owner is. Reads (status, list) come from the registry.
 */
export function createFleetRouter(options: FleetRouterOptions): SessionCommands {
  const { config, instanceId, manager, local, leases, registry, rpc } = options
  const slots = new LinkSlots(config.maxPendingPerClient)
  const ownedHere = (id: string) => manager.has(id) && leases.mayAct(id)

  /**
   * A session's status: the owner's own if it is this hub, else the registry's; a session so new
   * that its status has not reached the registry yet is asked of its owner.
   */
  const statusOf = async (id: string): Promise<StatusEvent | undefined> => {
    if (ownedHere(id)) return manager.status(id)
    const known = await registry.getStatus(id)
    if (known) return known
    const owner = await leases.ownerOf(id)
    if (owner === undefined || owner === instanceId) return undefined
    return (await rpc.call(owner, 'status', { id }).catch(() => undefined)) as
      StatusEvent | undefined
  }

  /** Runs a command where the session lives, following its owner if it moves meanwhile. */
  const atOwner = async <T>(
    id: string,
    method: string,
    args: Record<string, unknown>,
    here: () => Promise<T>,
  ): Promise<T> => {
    for (let attempt = 1; ; attempt++) {
      const owner = ownedHere(id) ? instanceId : await leases.ownerOf(id).catch(redisDown)
      try {
        if (owner === instanceId) return await here()
        if (owner !== undefined) return (await rpc.call(owner, method, { id, ...args })) as T
      } catch (error) {
        if (!(error instanceof OwnedElsewhereError) || attempt >= ATTEMPTS) throw error
        // The owner is handing its sessions over (it stops): give it a moment to let them go.
        await delay(RETRY_BASE_MS * 3 ** (attempt - 1))
        continue
      }
      if (await registry.getStatus(id).catch(redisDown)) {
        throw new HubError(
          'unavailable',
          'The hub that held this session stopped; it moves to another hub within seconds. Try again',
          id,
        )
      }
      throw new HubError('unknown_session', `no session with id ${id}`, id)
    }
  }

  /** A session nobody owns yet: the hub with the fewest sessions takes it. */
  const place = async (): Promise<string> => {
    const instances = await registry.instances().catch(redisDown)
    let best = { instance: instanceId, owned: leases.count }
    for (const info of instances) {
      if (info.owned < best.owned) best = { instance: info.instance, owned: info.owned }
    }
    return best.instance
  }

  const linkHere = (id: string, phoneNumber: string | undefined) =>
    local.requestLink(id, phoneNumber, () => undefined)

  return {
    async requestLink(sessionId, phoneNumber, join, client) {
      const id = sessionId ?? randomUUID()
      const status = await statusOf(id).catch(redisDown)
      if (!status && (await registry.count().catch(redisDown)) >= config.maxSessions) {
        throw new HubError(
          'limit_reached',
          `the fleet holds its maximum of ${config.maxSessions} sessions (MAX_SESSIONS); disconnect one or try later`,
          id,
        )
      }
      // A link under way or a linked account is only shown again; anything else starts a link.
      if (client !== undefined && status?.status !== 'authenticated' && !waitingForScan(status)) {
        await slots.reserve(client, id, async (ids) =>
          (await Promise.all(ids.map((started) => statusOf(started)))).map(waitingForScan),
        )
      }
      // Before anything is emitted in the room: the owner's events reach this hub's members.
      join(id)
      const owner = ownedHere(id) ? instanceId : await leases.ownerOf(id).catch(redisDown)
      if (owner === undefined) {
        const target = await place()
        if (target === instanceId) {
          try {
            return await linkHere(id, phoneNumber)
          } catch (error) {
            if (!(error instanceof OwnedElsewhereError)) throw error
          }
        } else {
          try {
            return (await rpc.call(target, 'requestLink', { id, phoneNumber })) as LinkAnswer
          } catch (error) {
            if (!(error instanceof OwnedElsewhereError)) throw error
            // The chosen hub is stopping and sent it back: unless someone took it since, here.
            if ((await leases.ownerOf(id).catch(redisDown)) === undefined) {
              return linkHere(id, phoneNumber)
            }
          }
        }
      }
      return atOwner(id, 'requestLink', { phoneNumber }, () => linkHere(id, phoneNumber))
    },

    async status(id) {
      const status = await statusOf(id).catch(redisDown)
      if (!status) throw new HubError('unknown_session', `no session with id ${id}`, id)
      return status
    },

    async subscribe(id, join) {
      const status = await this.status(id)
      join(id)
      if (!waitingForScan(status)) return { status }
      // The live code is the owner's to show.
      return atOwner(id, 'subscribe', {}, () => local.subscribe(id, () => undefined)).catch(() => ({
        status,
      }))
    },

    disconnect: (id) => atOwner(id, 'disconnect', {}, () => local.disconnect(id)),
    sendMessage: (id, to, text) =>
      atOwner(id, 'sendMessage', { to, text }, () => local.sendMessage(id, to, text)),
    timeline: (id) => atOwner(id, 'timeline', {}, () => local.timeline(id)),
    simulateScan: (id, body) =>
      atOwner(id, 'simulateScan', { body }, () => local.simulateScan(id, body)),
    simulateMessage: (id, from, text) =>
      atOwner(id, 'simulateMessage', { from, text }, () => local.simulateMessage(id, from, text)),
    simulateSilence: (id, silent) =>
      atOwner(id, 'simulateSilence', { silent }, () => local.simulateSilence(id, silent)),

    async list() {
      // The registry, with this hub's own sessions as they are this instant; without Redis, this
      // hub's alone (/stats then says the fleet is degraded).
      const fleet = await registry.list().catch(() => [])
      const byId = new Map(fleet.map((status) => [status.session_id, status]))
      for (const status of manager.list()) byId.set(status.session_id, status)
      return [...byId.values()]
    },

    async counts() {
      const counts = emptyCounts()
      const all = await this.list()
      for (const status of all) counts[status.status] += 1
      return { total: all.length, ...counts }
    },

    touch: (id) => local.touch(id),
    forgetClient(client) {
      slots.forget(client)
      local.forgetClient(client)
    },
  }
}

/** Answers a forwarded command on the owner's side. */
export function serveForwarded(rpc: Rpc, local: SessionCommands): void {
  const noJoin = () => undefined
  type Args = Record<string, unknown> & { id: string }
  const on = (method: string, run: (args: Args) => Promise<unknown>) =>
    rpc.handle(method, (args) => run(args as Args))
  on('requestLink', (a) => local.requestLink(a.id, a.phoneNumber as string | undefined, noJoin))
  on('subscribe', (a) => local.subscribe(a.id, noJoin))
  on('status', (a) => local.status(a.id))
  on('disconnect', (a) => local.disconnect(a.id))
  on('sendMessage', (a) => local.sendMessage(a.id, a.to as string, a.text as string))
  on('timeline', (a) => local.timeline(a.id))
  on('simulateScan', (a) =>
    local.simulateScan(a.id, a.body as Parameters<SessionCommands['simulateScan']>[1]),
  )
  on('simulateMessage', (a) => local.simulateMessage(a.id, a.from as string, a.text as string))
  on('simulateSilence', (a) => local.simulateSilence(a.id, a.silent as boolean))
}

function redisDown(error: unknown): never {
  if (error instanceof HubError) throw error
  throw new HubError('unavailable', 'Redis is unreachable: the fleet cannot answer this now')
}
