import type { Config } from '../config'
import type { Logger } from '../logger'
import type { ProviderMetrics } from '../metrics'
import type { DisconnectReason, LinkedUser, MessageKind, ProviderName } from '../protocol'
import type { Namespace } from '../store/store'

/** A QR code as WhatsApp issues it: the provider owns its rotation, the hub renders it. */
export interface ProviderQr {
  data: string
  ttlMs: number
  /** 1-based. */
  attempt: number
  attemptsMax: number
}

export interface IncomingMessage {
  id: string
  /** The chat's normalized JID: the sender's phone-number form when known, else as addressed. */
  from: string
  /** The sender's phone-number JID (`<digits>@s.whatsapp.net`), when known. */
  fromPn?: string
  /** The sender's LID (`<id>@lid`), when known. */
  fromLid?: string
  text: string
  kind: MessageKind
  timestamp: Date
}

export type HealthState = 'ok' | 'degraded'

/** Why a connection closed, and what the provider does about it. */
export interface ConnectionDetail {
  code?: number
  message?: string
  /** When the provider reconnects (a drop), in ms from now. */
  retryInMs?: number
}

/** How a provider reports what happens to one session. The session manager implements it. */
export interface SessionSink {
  qr(qr: ProviderQr): void
  pairingCode(code: string, ttlMs: number): void
  /**
   * The account is linked. Call it only once the credentials are durable; it resolves once the hub
   * has made the link durable too and announced it (and rejects if it could not store it).
   */
  authenticated(user: LinkedUser): Promise<void>
  /**
   * A transient drop (true) or its recovery (false); never the end of a link. `detail` says why
   * (WhatsApp's close code and message) and when the provider tries again, for the timeline.
   */
  reconnecting(active: boolean, detail?: ConnectionDetail): void
  /**
   * Liveness of a linked account: `degraded` when WhatsApp has gone silent while the connection
   * reports open (a zombie connection), `ok` when frames flow again. `reason` is for people.
   */
  health(state: HealthState, reason?: string): void
  /** The link has ended. The provider has already stopped the session's connection. */
  disconnected(reason: DisconnectReason, detail?: { code?: number; message?: string }): void
  message(message: IncomingMessage): void
}

export interface ProviderSession {
  id: string
  /**
   * The session's credentials: the provider's own namespace in the hub's store (sealed at rest,
   * written durably, in call order). It is valid for this link only: once the hub removes the
   * session's data, writes through it are dropped.
   */
  store: Namespace
  sink: SessionSink
}

export interface LinkOptions {
  /** Digits only; asks for a pairing code instead of QR codes. */
  phoneNumber?: string
}

export type ScanResult = 'ok' | 'expired' | 'mismatch'

/** Test and demo controls that only the simulated provider has. */
export interface Simulator {
  scan(
    sessionId: string,
    qrData: string,
    user: { name?: string; phone?: string },
  ): Promise<ScanResult>
  deliver(sessionId: string, from: string, text: string): IncomingMessage
  /**
   * WhatsApp goes silent on the linked connection (`true`) or answers again (`false`): after
   * HEALTH_SILENCE_MS the account is degraded, after twice that it is reconnected.
   */
  silence(sessionId: string, silent: boolean): void
}

export interface WhatsAppProvider {
  readonly name: ProviderName
  readonly supportsPairingCode: boolean
  readonly simulator?: Simulator
  /** Starts linking a new device from scratch; results arrive through `session.sink`. */
  link(session: ProviderSession, options: LinkOptions): Promise<void>
  /** Reconnects a session whose credentials are stored (after a restart). */
  resume(session: ProviderSession): Promise<void>
  /**
   * Which account stored credentials belong to, if they hold a completed link: lets the hub adopt
   * credentials whose session record was never written (a crash between the two writes).
   */
  inspect(credentials: Namespace): Promise<LinkedUser | undefined>
  /** Ends the link on WhatsApp's side too. The caller deletes the session's folder afterwards. */
  logout(sessionId: string): Promise<void>
  /**
   * Closes the connection, keeps the credentials and forgets everything the provider held in
   * memory for the session (hub stop, idle cleanup, an ended link).
   */
  close(sessionId: string): Promise<void>
  sendMessage(sessionId: string, to: string, text: string): Promise<{ messageId: string }>
  /** Closes every session, keeping credentials. */
  shutdown(): Promise<void>
}

export interface ProviderContext {
  config: Config
  logger: Logger
  /** The hub's counters and gauges for what the provider does; absent outside a hub. */
  metrics?: ProviderMetrics
}

export class ProviderError extends Error {
  constructor(
    message: string,
    readonly code: 'not_authenticated' | 'provider_error' = 'provider_error',
  ) {
    super(message)
    this.name = 'ProviderError'
  }
}

/** Normalizes digits or a JID to a user JID (`<digits>@s.whatsapp.net`); groups and LIDs stay. */
export function toJid(recipient: string): string {
  if (recipient.includes('@')) {
    const [user = '', server = ''] = recipient.split('@')
    const bare = user.split(':')[0] ?? user // drop a device suffix such as `:12`
    return server === 'c.us' ? `${bare}@s.whatsapp.net` : `${bare}@${server}`
  }
  return `${recipient.replace(/^\+/, '')}@s.whatsapp.net`
}
