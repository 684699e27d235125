import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client'
import type { SessionStatus } from './protocol'

/** Where an unexpected failure was caught. */
export type FaultOrigin = 'http' | 'socket' | 'uncaughtException' | 'unhandledRejection'
/** How a token was presented: a Socket.IO connection or an HTTP request. */
export type AuthKind = 'socket' | 'http'
/** Why a new Socket.IO connection was refused before its handshake. */
export type RefusalReason = 'origin' | 'unauthenticated_limit'
/** Why the hub cut a connected client off. */
export type DropReason = 'buffer_full'

export interface ClientBuffers {
  /** Bytes waiting to reach all clients. */
  total: number
  /** Bytes waiting to reach the client that has the most. */
  max: number
}

export interface HubMetrics {
  readonly registry: Registry
  /** What the WhatsApp provider counts (handed to it in its ProviderContext). */
  readonly provider: ProviderMetrics
  eventIn(event: string): void
  eventOut(event: string): void
  error(code: string): void
  qrRendered(): void
  fault(origin: FaultOrigin): void
  authFailure(kind: AuthKind): void
  authRateLimited(kind: AuthKind): void
  authAddressEvicted(): void
  connectionRefused(reason: RefusalReason): void
  clientDropped(reason: DropReason): void
  /**
   * A request Node's parser refused or timed out, by the code of the JSON answer, or whose body the
   * client cut off (`body_cut_off`).
   */
  httpClientError(code: string): void
}

// ---- WhatsApp provider (Baileys) -------------------------------------------------------------

/** Why a received WhatsApp message could not be decrypted (libsignal's error, as a label). */
export const DECRYPT_FAILURE_REASONS = [
  'bad_mac',
  'no_matching_sessions',
  'no_session',
  'invalid_prekey',
  'no_sender_key',
  'old_counter',
  'key_used',
  'other',
] as const
export type DecryptFailureReason = (typeof DECRYPT_FAILURE_REASONS)[number]
/** Where the WhatsApp Web version the provider connects with came from. */
export type VersionLookupResult = 'wa_web' | 'baileys' | 'failed'
/** Credential entries the provider deletes because WhatsApp can no longer use them. */
export type PrunedCredential = 'pre-key' | 'tctoken'

/** The provider's gauges, summed over its accounts; read when `/metrics` is scraped. */
export interface ProviderGauges {
  /** Entries and bytes in the accounts' credential stores, as last measured. */
  credentials(): { entries: number; bytes: number }
  /** Entries held in memory, by kind (caches, counters, queues). */
  memory(): Record<string, number>
}

export interface ProviderMetrics {
  decryptFailure(reason: DecryptFailureReason): void
  /** A peer's encryption sessions were dropped after repeated decryption failures. */
  peerSessionsReset(): void
  versionLookup(result: VersionLookupResult): void
  credentialsPruned(type: PrunedCredential, count: number): void
  /** Registers the provider's gauges (the last call wins). */
  observe(gauges: ProviderGauges): void
}

export interface MetricsSources {
  clients: () => number
  sessions: () => Record<SessionStatus, number>
  unauthenticated: () => number
  clientBuffers: () => ClientBuffers
  authAddresses: () => number
  /** QR renders waiting for the render thread (QR_RENDERS_WAITING_MAX caps them). */
  qrRendersWaiting?: () => number
  /** QR images the render thread has delivered so far. */
  qrRendersOnThread?: () => number
  /** Configured limits by variable name; constant for the hub's life. */
  limits: Record<string, number>
}

/**
 * One registry per hub (not prom-client's global one), so several hubs in one process, as in the
 * tests, keep separate numbers. Gauges are read when scraped, never kept up to date by hand.
 */
export function createMetrics(read: MetricsSources): HubMetrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'wa_link_hub_' })
  const registers = [registry]

  new Gauge({
    name: 'wa_link_hub_clients',
    help: 'Connected Socket.IO clients',
    registers,
    collect() {
      this.set(read.clients())
    },
  })
  new Gauge({
    name: 'wa_link_hub_sessions',
    help: 'Sessions by status',
    labelNames: ['status'],
    registers,
    collect() {
      for (const [status, count] of Object.entries(read.sessions())) this.set({ status }, count)
    },
  })
  new Gauge({
    name: 'wa_link_hub_unauthenticated_connections',
    help: 'Connections that have not shown the access token yet (MAX_UNAUTHENTICATED caps them)',
    registers,
    collect() {
      this.set(read.unauthenticated())
    },
  })
  new Gauge({
    name: 'wa_link_hub_qr_renders_waiting',
    help: 'QR renders waiting for the render thread (QR_RENDERS_WAITING_MAX caps them)',
    registers,
    collect() {
      this.set(read.qrRendersWaiting?.() ?? 0)
    },
  })
  new Counter({
    name: 'wa_link_hub_qr_renders_on_thread_total',
    help: 'QR images rendered on the render thread, which takes them while the event loop is saturated (the rest are rendered in the main thread)',
    registers,
    collect() {
      this.reset()
      this.inc(read.qrRendersOnThread?.() ?? 0)
    },
  })
  new Gauge({
    name: 'wa_link_hub_client_buffer_bytes',
    help: 'Bytes the hub holds for clients that have not read them yet: all clients, and the client with the most (MAX_CLIENT_BUFFER_BYTES caps each)',
    labelNames: ['clients'],
    registers,
    collect() {
      const { total, max } = read.clientBuffers()
      this.set({ clients: 'all' }, total)
      this.set({ clients: 'max' }, max)
    },
  })
  new Gauge({
    name: 'wa_link_hub_auth_tracked_addresses',
    help: 'Addresses whose failed token attempts are remembered (AUTH_ADDRESSES_MAX caps them)',
    registers,
    collect() {
      this.set(read.authAddresses())
    },
  })
  new Gauge({
    name: 'wa_link_hub_limit',
    help: 'Configured limits, by environment variable',
    labelNames: ['name'],
    registers,
    collect() {
      for (const [name, value] of Object.entries(read.limits)) this.set({ name }, value)
    },
  })

  const counter = (name: string, help: string, label?: string, known: string[] = []) => {
    const created = new Counter({ name, help, labelNames: label ? [label] : [], registers })
    // Known series start at 0, so a scrape shows them before the first event.
    if (label) for (const value of known) created.inc({ [label]: value }, 0)
    return created
  }
  const eventsIn = counter(
    'wa_link_hub_events_in_total',
    'Socket.IO events received, by name',
    'event',
  )
  const eventsOut = counter(
    'wa_link_hub_events_out_total',
    'Socket.IO events sent (one per emit, to a client or a room), by name',
    'event',
  )
  const errors = counter('wa_link_hub_errors_total', 'Errors reported to clients, by code', 'code')
  const qrRenders = counter(
    'wa_link_hub_qr_renders_total',
    'QR images rendered (once per issued QR, however many subscribers)',
  )
  const faults = counter(
    'wa_link_hub_faults_total',
    'Unexpected failures caught and survived, by where they were caught',
    'origin',
    ['http', 'socket', 'uncaughtException', 'unhandledRejection'],
  )
  const authFailures = counter(
    'wa_link_hub_auth_failures_total',
    'Missing or wrong access tokens, by kind (Socket.IO connection or HTTP request)',
    'kind',
    ['socket', 'http'],
  )
  const authRateLimited = counter(
    'wa_link_hub_auth_rate_limited_total',
    'Connections and requests refused because their address failed the token too often',
    'kind',
    ['socket', 'http'],
  )
  const authEvictions = counter(
    'wa_link_hub_auth_tracked_address_evictions_total',
    'Addresses forgotten because the table was full (AUTH_ADDRESSES_MAX)',
  )
  const refused = counter(
    'wa_link_hub_connections_refused_total',
    'New Socket.IO connections refused before the handshake, by reason',
    'reason',
    ['origin', 'unauthenticated_limit'],
  )
  const dropped = counter(
    'wa_link_hub_clients_dropped_total',
    'Connected clients the hub cut off, by reason',
    'reason',
    ['buffer_full'],
  )
  const clientErrors = counter(
    'wa_link_hub_http_client_errors_total',
    'HTTP requests refused by the parser, closed by a timeout or cut off by the client, by answer code',
    'code',
    ['bad_request', 'request_timeout', 'headers_too_large', 'body_cut_off'],
  )

  // ---- WhatsApp provider (Baileys) -------------------------------------------------------------
  let providerGauges: ProviderGauges | undefined
  new Gauge({
    name: 'wa_link_hub_baileys_credential_entries',
    help: "Entries in the linked accounts' WhatsApp credential stores, summed (measured at each upkeep)",
    registers,
    collect() {
      if (providerGauges) this.set(providerGauges.credentials().entries)
    },
  })
  new Gauge({
    name: 'wa_link_hub_baileys_credential_bytes',
    help: "Bytes in the linked accounts' WhatsApp credential stores, summed (measured at each upkeep)",
    registers,
    collect() {
      if (providerGauges) this.set(providerGauges.credentials().bytes)
    },
  })
  new Gauge({
    name: 'wa_link_hub_baileys_memory_entries',
    help: 'Entries the WhatsApp provider holds in memory over all accounts, by kind (each kind is capped per account)',
    labelNames: ['kind'],
    registers,
    collect() {
      if (!providerGauges) return
      for (const [kind, count] of Object.entries(providerGauges.memory())) this.set({ kind }, count)
    },
  })
  const decryptFailures = counter(
    'wa_link_hub_baileys_decrypt_failures_total',
    'Received WhatsApp messages that could not be decrypted, by reason',
    'reason',
    [...DECRYPT_FAILURE_REASONS],
  )
  const peerResets = counter(
    'wa_link_hub_baileys_peer_session_resets_total',
    'Peers whose encryption sessions were dropped after DECRYPT_FAILURES_RESET failures, to renegotiate them',
  )
  const versionLookups = counter(
    'wa_link_hub_baileys_version_lookups_total',
    'WhatsApp Web version lookups, by where the version came from (failed: the cached or bundled one stays)',
    'result',
    ['wa_web', 'baileys', 'failed'],
  )
  const pruned = counter(
    'wa_link_hub_baileys_credentials_pruned_total',
    'Credential entries deleted because WhatsApp can no longer use them, by type',
    'type',
    ['pre-key', 'tctoken'],
  )
  const provider: ProviderMetrics = {
    decryptFailure: (reason) => decryptFailures.inc({ reason }),
    peerSessionsReset: () => peerResets.inc(),
    versionLookup: (result) => versionLookups.inc({ result }),
    credentialsPruned: (type, count) => pruned.inc({ type }, count),
    observe(gauges) {
      providerGauges = gauges
    },
  }

  return {
    registry,
    provider,
    eventIn: (event) => eventsIn.inc({ event }),
    eventOut: (event) => eventsOut.inc({ event }),
    error: (code) => errors.inc({ code }),
    qrRendered: () => qrRenders.inc(),
    fault: (origin) => faults.inc({ origin }),
    authFailure: (kind) => authFailures.inc({ kind }),
    authRateLimited: (kind) => authRateLimited.inc({ kind }),
    authAddressEvicted: () => authEvictions.inc(),
    connectionRefused: (reason) => refused.inc({ reason }),
    clientDropped: (reason) => dropped.inc({ reason }),
    httpClientError: (code) => clientErrors.inc({ code }),
  }
}
