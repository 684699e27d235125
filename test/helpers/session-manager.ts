import { loadConfig } from '../../server/config'
import { silentLogger, type Logger } from '../../server/logger'
import { createMetrics } from '../../server/metrics'
import type { ServerEvents, StatusEvent } from '../../server/protocol'
import type {
  LinkOptions,
  ProviderSession,
  SessionSink,
  WhatsAppProvider,
} from '../../server/providers/provider'
import {
  emptyCounts,
  SessionManager,
  type Broadcaster,
  type Ownership,
} from '../../server/sessions/session-manager'
import type { QrRenderer } from '../../server/qr-renderer'
import { SessionStore } from '../../server/sessions/session-store'
import { MemoryStore } from './memory-store'

/** Records what the manager sends to rooms, and says how many subscribers each room has. */
export function recordingBroadcaster() {
  const sent: { sessionId: string; event: keyof ServerEvents; payload: unknown }[] = []
  const subscribers = new Map<string, number>()
  const broadcaster: Broadcaster = {
    toSession: (sessionId, event, payload) => void sent.push({ sessionId, event, payload }),
    subscriberCount: (sessionId) => subscribers.get(sessionId) ?? 0,
  }
  return {
    sent,
    subscribers,
    broadcaster,
    /** The events sent to `sessionId`'s room, by name, in order. */
    events: (sessionId: string) =>
      sent.filter((s) => s.sessionId === sessionId).map((s) => s.event),
    /** The payloads of `event` sent to `sessionId`'s room. */
    payloads: <E extends keyof ServerEvents>(sessionId: string, event: E) =>
      sent
        .filter((s) => s.sessionId === sessionId && s.event === event)
        .map((s) => s.payload as ServerEvents[E]),
  }
}

/**
 * A provider the test plays by hand: every `link` and `resume` is kept with its sink, so a test
 * can speak for any link, the current one or an older one. Calls to it are listed in `calls`.
 */
export function handProvider(overrides: Partial<WhatsAppProvider> = {}) {
  const links: { session: ProviderSession; options?: LinkOptions; resumed: boolean }[] = []
  const calls: string[] = []
  const provider: WhatsAppProvider = {
    name: 'simulated',
    supportsPairingCode: true,
    link: async (session, options) => {
      calls.push(`link ${session.id}`)
      links.push({ session, options, resumed: false })
    },
    resume: async (session) => {
      calls.push(`resume ${session.id}`)
      links.push({ session, resumed: true })
    },
    inspect: async () => undefined,
    logout: async (id) => void calls.push(`logout ${id}`),
    close: async (id) => void calls.push(`close ${id}`),
    sendMessage: async (id) => {
      calls.push(`send ${id}`)
      return { messageId: 'SENT1' }
    },
    shutdown: async () => void calls.push('shutdown'),
    ...overrides,
  }
  return {
    provider,
    links,
    calls,
    /** The sink of the latest link or resume of `sessionId` (`back` older ones before it). */
    sink(sessionId: string, back = 0): SessionSink {
      const mine = links.filter((l) => l.session.id === sessionId)
      const found = mine[mine.length - 1 - back]
      if (!found) throw new Error(`no link ${back} back for ${sessionId}`)
      return found.session.sink
    },
  }
}

/** An ownership a test can take away (a fleet whose lease was lost). */
export function switchableOwnership() {
  const lost = new Set<string>()
  const released: string[] = []
  const ownership: Ownership = {
    claim: async (id) => !lost.has(id),
    release: async (id) => void released.push(id),
    mayAct: (id) => !lost.has(id),
  }
  return { ownership, lost, released }
}

/** A hub's metrics with nothing around them: no clients, no sockets, no limits. */
export function standaloneMetrics() {
  return createMetrics({
    clients: () => 0,
    sessions: () => emptyCounts(),
    unauthenticated: () => 0,
    clientBuffers: () => ({ total: 0, max: 0 }),
    authAddresses: () => 0,
    limits: {},
  })
}

/**
 * A SessionManager on a store in memory, a recording broadcaster and (unless given) a provider
 * the test plays by hand. No sockets: for what only the state machine decides.
 */
export function managerHarness(
  options: {
    env?: Record<string, string>
    provider?: WhatsAppProvider
    ownership?: Ownership
    logger?: Logger
    store?: MemoryStore
    onRemoved?: (sessionId: string) => Promise<void>
    /** As a fleet hub: stored sessions are not loaded up front. */
    restoreOnRequest?: boolean
    /** Renders QR images (default: in this thread, at once). */
    qrRenderer?: QrRenderer
  } = {},
) {
  const config = loadConfig({ QR_TTL_FIRST_MS: '60000', ...options.env })
  const store = options.store ?? new MemoryStore()
  const hand = handProvider()
  const provider = options.provider ?? hand.provider
  const room = recordingBroadcaster()
  const changes: StatusEvent[] = []
  const errors: string[] = []
  const metrics = standaloneMetrics()
  const error = metrics.error.bind(metrics)
  metrics.error = (code) => {
    errors.push(code)
    error(code)
  }
  const logger = options.logger ?? silentLogger
  const manager = new SessionManager({
    config,
    logger,
    provider,
    store: new SessionStore(store, logger),
    broadcaster: room.broadcaster,
    metrics,
    onChange: (status) => changes.push(status),
    ...(options.onRemoved ? { onRemoved: options.onRemoved } : {}),
    ...(options.ownership ? { ownership: options.ownership } : {}),
    restoreOnRequest: options.restoreOnRequest ?? false,
    ...(options.qrRenderer ? { qrRenderer: options.qrRenderer } : {}),
  })
  const joined: string[] = []
  return {
    manager,
    config,
    store,
    hand,
    room,
    changes,
    /** Error codes counted in the hub's metrics. */
    errors,
    joined,
    join: (id: string) => void joined.push(id),
    /** `get_qr` for `id` from `client` (no client: the HTTP API). */
    requestLink: (id: string, phoneNumber?: string, client?: string) =>
      manager.requestLink(id, phoneNumber, (joinedId) => void joined.push(joinedId), client),
  }
}
