import type { ConnectionInfo, ServerStatus, Settings } from '../preload/api'
import { ConfigError, loadConfig } from '../server/config'
import { createHub, HubStartError, type Hub, type HubStatus } from '../server/hub'
import type { FaultOrigin } from '../server/metrics'
import type { ProviderFactory } from '../server/providers'
import { createAccountWatch, type AccountAlert, type AccountWatch } from './account-watch'
import { APP_ORIGIN } from './app-protocol'
import type { AppLogger } from './logger'

/** Degraded accounts a ServerStatus names; it counts them all. */
export const DEGRADED_LISTED_MAX = 5

export interface HubHost {
  /** Never throws: a failure shows up as the `error` state with a message. */
  start(): Promise<ServerStatus>
  stop(): Promise<ServerStatus>
  /** Stops and starts with the current settings (after a port, host or provider change). */
  restart(): Promise<ServerStatus>
  status(): ServerStatus
  connectionInfo(): ConnectionInfo | null
  /** Counts a failure nobody caught in the running hub's /metrics. */
  recordFault(origin: FaultOrigin): void
  onStatus(listener: (status: ServerStatus) => void): () => void
  /** A change of an account a person wants to hear about: one call per change. */
  onAlert(listener: (alert: AccountAlert) => void): () => void
}

export interface HubHostOptions {
  env: Record<string, string | undefined>
  dataDir: string
  settings: () => Settings
  logger: AppLogger
  webRoot?: string
  providerFactory?: ProviderFactory
  /** The data key unwrapped from the OS keystore (main/data-key.ts), handed to every hub built. */
  dataKey?: Buffer
}

/**
 * Owns the embedded hub: builds its config from the environment plus the saved settings, starts and
 * stops it, and turns its events into ServerStatus updates for the tray and the window, and its
 * session events into account alerts.
 */
export function createHubHost(options: HubHostOptions): HubHost {
  const { logger } = options
  const listeners = new Set<(status: ServerStatus) => void>()
  const alertListeners = new Set<(alert: AccountAlert) => void>()
  let hub: Hub | undefined
  let watch: AccountWatch | undefined
  let configError: string | undefined
  let scheduled = false

  const compute = (): ServerStatus => {
    if (configError)
      return {
        ...idle(options.settings()),
        state: 'error',
        error: { code: 'bad_config', message: configError },
      }
    return hub && watch
      ? fromHub(hub.status(), watch.degraded(DEGRADED_LISTED_MAX))
      : idle(options.settings())
  }

  // Many hub events can arrive in one tick (a burst of clients): tell listeners once per tick.
  const publish = () => {
    if (scheduled) return
    scheduled = true
    setImmediate(() => {
      scheduled = false
      const status = compute()
      for (const listener of listeners) listener(status)
    })
  }

  const build = (): Hub | undefined => {
    const settings = options.settings()
    try {
      const config = loadConfig(options.env, {
        port: settings.port,
        host: settings.host,
        provider: settings.provider,
        dataDir: options.dataDir,
        // The desktop app is one hub with its files, whatever the environment says.
        redisUrl: undefined,
      })
      // CORS_ORIGINS limits browsers; the app's own window stays allowed.
      if (config.corsOrigins !== '*') config.corsOrigins = [...config.corsOrigins, APP_ORIGIN]
      configError = undefined
      const created = createHub(config, {
        logger: logger.file,
        webRoot: options.webRoot,
        providerFactory: options.providerFactory,
        dataKey: options.dataKey,
      })
      // The hub holds at most maxSessions sessions: so does the watch of them.
      const accounts = createAccountWatch({ limit: config.maxSessions })
      watch = accounts
      created.events.on('state', (status) => {
        accounts.hubState(status.state)
        publish()
      })
      created.events.on('clients', publish)
      created.events.on('session', (event) => {
        const alert = accounts.observe(event)
        if (alert) for (const listener of alertListeners) listener(alert)
        publish()
      })
      created.events.on('log', (entry) => logger.record(entry))
      return created
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error
      configError = error.message
      logger.app.error('Configuration error', { reason: error.message })
      return undefined
    }
  }

  const start = async (): Promise<ServerStatus> => {
    hub ??= build()
    if (hub) {
      try {
        await hub.start()
      } catch (error) {
        if (!(error instanceof HubStartError)) throw error
        logger.app.error('The server could not start', { reason: error.message })
      }
    }
    publish()
    return compute()
  }

  const stop = async (): Promise<ServerStatus> => {
    await hub?.stop()
    publish()
    return compute()
  }

  return {
    start,
    stop,
    async restart() {
      await hub?.stop()
      hub = undefined
      return start()
    },
    status: () => compute(),
    connectionInfo: () => hub?.connectionInfo() ?? null,
    recordFault: (origin) => hub?.recordFault(origin),
    onStatus(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    onAlert(listener) {
      alertListeners.add(listener)
      return () => alertListeners.delete(listener)
    },
  }
}

function idle(settings: Settings): ServerStatus {
  return {
    state: 'stopped',
    host: settings.host,
    port: settings.port,
    provider: settings.provider,
    clients: 0,
    sessions: { total: 0, pending: 0, qr_ready: 0, authenticated: 0, disconnected: 0 },
    degraded: { count: 0, accounts: [] },
  }
}

function fromHub(status: HubStatus, degraded: ServerStatus['degraded']): ServerStatus {
  const error =
    status.error?.code === 'port_in_use'
      ? {
          code: 'port_in_use',
          message: `Port ${status.port} is in use — choose another in Settings`,
        }
      : status.error
  return {
    state: status.state,
    host: status.host,
    port: status.port,
    provider: status.provider,
    ...(status.url ? { url: status.url } : {}),
    clients: status.clients,
    sessions: status.sessions,
    degraded,
    ...(error ? { error } : {}),
  }
}
