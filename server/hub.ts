import { EventEmitter } from 'node:events'
import type { Server as HttpServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createAuthGuard } from './auth-guard'
import { configuredLimits, type Config } from './config'
import { createHttpHandler, createHttpServer } from './http'
import { teeLogger, type LogEntry, type Logger } from './logger'
import { createMetrics, type FaultOrigin, type HubMetrics } from './metrics'
import { createOriginPolicy } from './origins'
import type { StatusEvent } from './protocol'
import { createProvider, type ProviderFactory } from './providers'
import { faultFields } from './safety-net'
import { emptyCounts, SessionManager, type SessionCounts } from './sessions/session-manager'
import { localCommands } from './sessions/session-commands'
import { SessionStore } from './sessions/session-store'
import { openLocalBackplane, type Backplane } from './backplane'
import { createWorkerQrRenderer, inlineQrRenderer, type QrRenderer } from './qr-renderer'
import {
  createBroadcaster,
  createSocketServer,
  registerSocketHandlers,
  type HubSocketServer,
} from './socket'
import { resolveToken } from './token'
import { VERSION } from './version'

export type HubState = 'stopped' | 'starting' | 'running' | 'stopping' | 'error'

export interface HubFailure {
  code: 'port_in_use' | 'permission_denied' | 'address_unavailable' | 'start_failed'
  message: string
}

export interface HubStatus {
  state: HubState
  version: string
  provider: Config['provider']
  host: string
  port: number
  /** `http://host:port/`, without the token. */
  url?: string
  clients: number
  sessions: SessionCounts & { total: number }
  error?: HubFailure
}

export interface ConnectionInfo {
  url: string
  token: string
  /** `url` with `?token=`: opens the web UI signed in. */
  accessUrl: string
}

export interface HubEvents {
  started: [ConnectionInfo]
  stopped: []
  error: [HubFailure]
  state: [HubStatus]
  clients: [number]
  session: [StatusEvent]
  log: [LogEntry]
}

export interface Hub {
  start(): Promise<ConnectionInfo>
  stop(): Promise<void>
  status(): HubStatus
  /** Known once the hub has started. */
  connectionInfo(): ConnectionInfo | undefined
  /** Counts a failure the host caught for the process (see `installSafetyNet`) in `/metrics`. */
  recordFault(origin: FaultOrigin): void
  readonly events: EventEmitter<HubEvents>
}

export interface HubOptions {
  logger: Logger
  /** Built web UI to serve at `/`. */
  webRoot?: string
  /** Replaces the provider chosen by `config.provider` (tests inject fakes here). */
  providerFactory?: ProviderFactory
  /** The data key that seals what the hub stores (the desktop app's, from the OS keychain). */
  dataKey?: Buffer
  /**
   * The built QR render thread (`out/main/qr-worker.js`): the headless server renders QR images
   * there while its event loop is saturated (see `createWorkerQrRenderer`). Without it they are
   * always rendered in this thread.
   */
  qrWorker?: string
}

export class HubStartError extends Error {
  constructor(readonly failure: HubFailure) {
    super(failure.message)
    this.name = 'HubStartError'
  }
}

interface Running {
  http: HttpServer
  io: HubSocketServer
  manager: SessionManager
  plane: Backplane
  metrics: HubMetrics
  qrRenderer: QrRenderer
  info: ConnectionInfo
}

/**
 * The hub: an HTTP server and a Socket.IO server on one port, sessions and a WhatsApp provider.
 * It can be started and stopped again (the desktop app does), and reports everything through
 * `events`, the single source for trays, windows and logs.
 */
export function createHub(config: Config, options: HubOptions): Hub {
  const events = new EventEmitter<HubEvents>()
  const logger = teeLogger(options.logger, config.logLevel, (entry) => events.emit('log', entry))
  let state: HubState = 'stopped'
  let failure: HubFailure | undefined
  let running: Running | undefined
  let pending: Promise<unknown> = Promise.resolve()

  const status = (): HubStatus => {
    const counts = running?.manager.countByStatus() ?? emptyCounts()
    const address = running?.http.address() as AddressInfo | null | undefined
    return {
      state,
      version: VERSION,
      provider: config.provider,
      host: config.host,
      port: address?.port ?? config.port,
      ...(running ? { url: running.info.url } : {}),
      clients: running?.io.sockets.sockets.size ?? 0,
      sessions: { total: running?.manager.size ?? 0, ...counts },
      ...(failure ? { error: failure } : {}),
    }
  }

  const setState = (next: HubState) => {
    state = next
    events.emit('state', status())
  }

  const start = async (): Promise<ConnectionInfo> => {
    if (running) return running.info
    failure = undefined
    setState('starting')
    try {
      running = await open(config, options, logger, events)
    } catch (error) {
      // Reported, not logged: the host shows it its own way (one CLI line, a tray state).
      failure = describeStartFailure(error, config)
      setState('error')
      if (events.listenerCount('error') > 0) events.emit('error', failure)
      throw new HubStartError(failure)
    }
    setState('running')
    logger.info(`WA Link Hub ${VERSION} listening; open ${running.info.accessUrl}`, {
      provider: config.provider,
      data_dir: config.dataDir,
    })
    events.emit('started', running.info)
    return running.info
  }

  const stop = async (): Promise<void> => {
    if (!running) return
    const current = running
    setState('stopping')
    await close(current)
    running = undefined
    setState('stopped')
    logger.info('WA Link Hub stopped')
    events.emit('stopped')
  }

  // start and stop never overlap: each waits for the previous call to settle.
  const serialize = <T>(task: () => Promise<T>): Promise<T> => {
    const next = pending.then(task, task)
    pending = next.catch(() => undefined)
    return next
  }

  return {
    start: () => serialize(start),
    stop: () => serialize(stop),
    status,
    connectionInfo: () => running?.info,
    recordFault: (origin) => running?.metrics.fault(origin),
    events,
  }
}

async function open(
  config: Config,
  options: HubOptions,
  logger: Logger,
  events: EventEmitter<HubEvents>,
): Promise<Running> {
  // The fleet (Redis, its adapter) is loaded only when asked for: one hub alone never needs it.
  const plane = config.redisUrl
    ? await (await import('./fleet')).openFleetBackplane(config, logger)
    : await openLocalBackplane(config, logger, options.dataKey)
  try {
    return await openOn(plane, config, options, logger, events)
  } catch (error) {
    await plane.close()
    throw error
  }
}

async function openOn(
  plane: Backplane,
  config: Config,
  options: HubOptions,
  logger: Logger,
  events: EventEmitter<HubEvents>,
): Promise<Running> {
  const { token } = await resolveToken(config, plane.store.hub, logger)
  const startedAt = Date.now()
  const store = new SessionStore(plane.store, logger)
  const origins = createOriginPolicy(config.corsOrigins)
  // The gauges read what they count only when scraped, after it all exists.
  const metrics = createMetrics({
    clients: () => io.sockets.sockets.size,
    sessions: () => manager.countByStatus(),
    unauthenticated: () => socketServer.unauthenticated(),
    clientBuffers: () => socketServer.buffers.measure(),
    authAddresses: () => guard.size,
    qrRendersWaiting: () => qrRenderer.waiting ?? 0,
    qrRendersOnThread: () => qrRenderer.threadRenders ?? 0,
    limits: configuredLimits(config),
  })
  const provider = await (options.providerFactory ?? createProvider)({
    config,
    logger,
    metrics: metrics.provider,
  })
  const guard = createAuthGuard({
    failuresPerMinute: config.authFailuresPerMin,
    maxAddresses: config.authAddressesMax,
    logger,
    metrics,
  })
  const socketServer = createSocketServer({
    token,
    config,
    logger,
    metrics,
    guard,
    origins,
    adapter: plane.adapter,
  })
  const { io, engine } = socketServer
  const clients = () => io.sockets.sockets.size
  const broadcaster = createBroadcaster(io, metrics, plane.fleet)
  const qrRenderer = options.qrWorker
    ? createWorkerQrRenderer(options.qrWorker, logger, config.qrRendersWaitingMax)
    : inlineQrRenderer
  const manager = new SessionManager({
    config,
    logger,
    provider,
    store,
    broadcaster,
    metrics,
    ownership: plane.ownership,
    restoreOnRequest: plane.fleet,
    qrRenderer,
    onChange: (status) => {
      plane.onStatus(status)
      events.emit('session', status)
    },
    onRemoved: (id) => plane.onRemoved(id),
  })
  const sessions = plane.commands(manager, localCommands(manager))
  registerSocketHandlers(io, {
    config,
    logger,
    metrics,
    sessions,
    provider: provider.name,
    version: VERSION,
    onClientsChanged: (count) => events.emit('clients', count),
  })
  const http = createHttpServer({
    config,
    engine,
    logger,
    metrics,
    handle: createHttpHandler({
      token,
      version: VERSION,
      provider: provider.name,
      startedAt,
      logger,
      metrics,
      sessions,
      clients: () => plane.clients(clients()),
      health: () => plane.health(),
      fleetStats: () => plane.fleetStats(),
      guard,
      origins,
      webRoot: options.webRoot,
    }),
  })

  try {
    // Linked sessions come back before the port opens, so a reconnecting client finds them. A
    // fleet hub takes stored sessions over once it runs, as it takes those of a hub that is gone,
    // least loaded first.
    if (!plane.fleet) {
      const resumed = await manager.load()
      if (resumed > 0) logger.info('Linked sessions restored', { sessions: resumed })
    }
    await listen(http, config.port, config.host)
  } catch (error) {
    // Nothing half-started stays behind: the provider's sockets and the Socket.IO server go too.
    await plane.pause()
    await manager.stop()
    await plane.stop()
    await qrRenderer.close()
    void io.close()
    throw error
  }
  // After listening, a server error (say, out of file descriptors on accept) must not end the
  // process: the hub logs it and goes on serving the connections it has.
  http.on('error', (error) => {
    metrics.fault('http')
    logger.error('HTTP server error; the hub keeps running', faultFields(error))
  })
  manager.startIdleSweeper()
  const { port } = http.address() as AddressInfo
  const url = `http://${displayHost(config.host)}:${port}/`
  plane.start({ manager, broadcaster, metrics, url, clients })
  return {
    http,
    io,
    manager,
    plane,
    metrics,
    qrRenderer,
    info: { url, token, accessUrl: `${url}?token=${encodeURIComponent(token)}` },
  }
}

async function close({ http, io, manager, plane, qrRenderer }: Running): Promise<void> {
  // Stop accepting first, then end every client, then flush the sessions to disk.
  const closed = new Promise<void>((resolve) => http.close(() => resolve()))
  // Closing the transports (not a namespace disconnect) lets clients reconnect by themselves when
  // the hub is back. Idle keep-alive connections end at once instead of after their timeout.
  void io.close()
  http.closeAllConnections()
  await closed
  // No new work, then the sessions flushed while this hub still owns them; then (a fleet) the
  // others take them over.
  await plane.pause()
  await manager.stop()
  await plane.stop()
  await plane.close()
  await qrRenderer.close()
}

function listen(http: HttpServer, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => {
      http.off('listening', onListening)
      reject(error)
    }
    const onListening = () => {
      http.off('error', onError)
      resolve()
    }
    http.once('error', onError)
    http.once('listening', onListening)
    http.listen(port, host)
  })
}

function describeStartFailure(error: unknown, config: Config): HubFailure {
  const code = (error as NodeJS.ErrnoException).code
  const where = `${config.host}:${config.port}`
  switch (code) {
    case 'EADDRINUSE':
      return {
        code: 'port_in_use',
        message: `Port ${config.port} is already in use (${where}); stop the other program or choose another port (WS_PORT)`,
      }
    case 'EACCES':
      return {
        code: 'permission_denied',
        message: `Not allowed to listen on ${where}; choose a port above 1023 (WS_PORT)`,
      }
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
      return {
        code: 'address_unavailable',
        message: `The address ${config.host} is not available on this machine (WS_HOST)`,
      }
    default:
      return {
        code: 'start_failed',
        message: `The hub could not start: ${(error as Error).message}`,
      }
  }
}

/** 0.0.0.0 and :: listen everywhere; a person's browser reaches them as localhost. */
export function displayHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return 'localhost'
  return host.includes(':') ? `[${host}]` : host
}
