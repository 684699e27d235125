import type { ServerOptions } from 'socket.io'
import type { Config } from './config'
import type { Logger } from './logger'
import type { HubMetrics } from './metrics'
import type { StatsBody, StatusEvent } from './protocol'
import type { SessionCommands } from './sessions/session-commands'
import type { Broadcaster, Ownership, SessionManager } from './sessions/session-manager'
import { openStore } from './store'
import type { Store } from './store/store'

export interface HubHealth {
  status: 'ok' | 'degraded'
  /** In a fleet: whether this hub reaches Redis. */
  redis?: 'ok' | 'degraded'
}

/** What /stats adds about a fleet. */
export type FleetStats = NonNullable<StatsBody['fleet']>

export interface BackplaneStart {
  manager: SessionManager
  broadcaster: Broadcaster
  metrics: HubMetrics
  url: string
  clients: () => number
}

/**
 * What a hub stands on: where it stores, who owns which session, how rooms reach clients. Alone
 * (the default, the desktop app): files in DATA_DIR, every session its own. In a fleet
 * (REDIS_URL): Redis for all three, with leases and forwarding (server/fleet).
 */
export interface Backplane {
  readonly store: Store
  readonly ownership?: Ownership
  readonly adapter?: ServerOptions['adapter']
  readonly fleet: boolean
  /** Session commands: the manager's own, or routed to each session's owner. */
  commands(manager: SessionManager, local: SessionCommands): SessionCommands
  onStatus(status: StatusEvent): void
  onRemoved(sessionId: string): Promise<void>
  /** After the port opens. */
  start(context: BackplaneStart): void
  health(): HubHealth
  /** Connected clients: this hub's, or the fleet's. */
  clients(local: number): Promise<number>
  fleetStats(): Promise<FleetStats | undefined>
  /** Takes no new work (a fleet: no takeovers, no forwarded commands); before the sessions close. */
  pause(): Promise<void>
  /** Gives the sessions up (leases) before the hub's store closes. */
  stop(): Promise<void>
  close(): Promise<void>
}

/** One hub alone: files in DATA_DIR (taken for this process), sealed with the data key. */
export async function openLocalBackplane(
  config: Config,
  logger: Logger,
  hostKey: Buffer | undefined,
): Promise<Backplane> {
  const store = await openStore(config, logger, { hostKey, exclusive: true })
  return {
    store,
    fleet: false,
    commands: (_manager, local) => local,
    onStatus: () => undefined,
    onRemoved: async () => undefined,
    start: () => undefined,
    health: () => ({ status: 'ok' }),
    clients: async (local) => local,
    fleetStats: async () => undefined,
    pause: async () => undefined,
    stop: async () => undefined,
    close: () => store.close(),
  }
}
