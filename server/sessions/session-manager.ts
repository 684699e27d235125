import { randomUUID } from 'node:crypto'
import type { Config } from '../config'
import { HubError } from '../errors'
import type { LogFields, Logger } from '../logger'
import type { HubMetrics } from '../metrics'
import {
  DISCONNECT_MESSAGES,
  TIMELINE_MAX,
  type AuthenticatedEvent,
  type DisconnectReason,
  type LinkedUser,
  type PairingCodeEvent,
  type QrCodeEvent,
  type ServerEvents,
  type SessionStatus,
  type SimulateScanBody,
  type StatusEvent,
  type TimelineEntry,
  type TimelineEventKind,
} from '../protocol'
import {
  ProviderError,
  type ConnectionDetail,
  type HealthState,
  type IncomingMessage,
  type ProviderQr,
  type SessionSink,
  type WhatsAppProvider,
} from '../providers/provider'
import { inlineQrRenderer, type QrRenderer } from '../qr-renderer'
import { sampledLog } from '../sampled-log'
import { SealError } from '../store/seal'
import { DamagedDataError } from '../store/store'
import { LinkSlots } from './link-slots'
import { SendLimiter } from './send-limiter'
import type { SessionData, SessionRecord, SessionStore, UnreadableSession } from './session-store'

/** Where session events go: the session's Socket.IO room. */
export interface Broadcaster {
  toSession<E extends keyof ServerEvents>(
    sessionId: string,
    event: E,
    payload: ServerEvents[E],
  ): void
  /** Subscribers on this hub. */
  subscriberCount(sessionId: string): number
  /** In a fleet: whether clients on other hubs watch the session. */
  watchedElsewhere?(sessionId: string): Promise<boolean>
}

export type Replay =
  | { event: 'qr_code'; payload: QrCodeEvent }
  | { event: 'pairing_code'; payload: PairingCodeEvent }
  | { event: 'authenticated'; payload: AuthenticatedEvent }

interface Session {
  id: string
  status: SessionStatus
  reconnecting: boolean
  reason?: DisconnectReason
  user?: LinkedUser
  updatedAt: Date
  /** Last time the session's room was seen with a subscriber (for idle cleanup). */
  lastSubscriberAt: number
  /** The provider holds a live link attempt or connection for this session. */
  active: boolean
  mode: 'qr' | 'pairing'
  qr?: QrCodeEvent
  pairing?: PairingCodeEvent
  /** Bumped whenever a link starts or ends, so callbacks from an older attempt are ignored. */
  generation: number
  /** The client whose `get_qr` started the current link (counts toward its pending limit). */
  startedBy?: string
  /** Why the stored session cannot be read (wrong data key, damage); its data is left alone. */
  unreadable?: string
  /** Its stored data, until the next removal (a new link starts from a fresh handle). */
  data: SessionData
  health: HealthState
  healthReason?: string
  /** The last TIMELINE_MAX connection events, oldest first. */
  timeline: TimelineEntry[]
}

export interface SessionManagerOptions {
  config: Config
  logger: Logger
  provider: WhatsAppProvider
  /**
   * Stored sessions may not be loaded yet (a fleet hub takes them over after it starts): a
   * request for a session not in memory looks in the store first.
   */
  restoreOnRequest?: boolean
  store: SessionStore
  broadcaster: Broadcaster
  metrics: HubMetrics
  /** Called after every change of a session's status (for the tray, stats and IPC). */
  onChange: (status: StatusEvent) => void
  /** Called when a session is gone from this hub for good (idle cleanup), after its data. */
  onRemoved?: (sessionId: string) => Promise<void>
  /** Which sessions this hub may run; without it, this hub owns every session (one process). */
  ownership?: Ownership
  /** Renders QR images; without it, in this thread. */
  qrRenderer?: QrRenderer
}

/** Who runs a session: in a fleet, the hub holding its lease; alone, this hub. */
export interface Ownership {
  /** Takes the session for this hub; false when another hub has it. */
  claim(sessionId: string): Promise<boolean>
  /** Gives it up (it was removed here, or it stays stored but this hub will not run it). */
  release(sessionId: string): Promise<void>
  /** False once this hub may no longer act for the session (its lease is lost or unconfirmed). */
  mayAct(sessionId: string): boolean
}

/** One hub alone owns every session. */
export const SOLE_OWNER: Ownership = {
  claim: async () => true,
  release: async () => undefined,
  mayAct: () => true,
}

/** A session another hub owns: the caller forwards the command there. */
export class OwnedElsewhereError extends HubError {
  constructor(sessionId: string) {
    super('unavailable', 'Another hub owns this session', sessionId)
    this.name = 'OwnedElsewhereError'
  }
}

export type SessionCounts = Record<SessionStatus, number>

export function emptyCounts(): SessionCounts {
  return { pending: 0, qr_ready: 0, authenticated: 0, disconnected: 0 }
}

function isLive<T extends { expires_at: string }>(code: T | undefined): code is T {
  return code !== undefined && Date.now() < Date.parse(code.expires_at)
}

/**
 * The sessions' state machine: pending → qr_ready → authenticated, or → disconnected when a link
 * ends. It asks the provider to link, renders each QR once, and tells the session's room.
 */
export class SessionManager {
  private readonly sessions = new Map<string, Session>()
  private readonly limiters = new Map<string, SendLimiter>()
  private readonly linkSlots: LinkSlots
  private readonly counts: SessionCounts = emptyCounts()
  private sweeper?: NodeJS.Timeout
  private readonly config: Config
  private readonly logger: Logger
  private readonly provider: WhatsAppProvider
  private readonly store: SessionStore
  private readonly broadcaster: Broadcaster
  private readonly ownership: Ownership
  private readonly renderQr: QrRenderer['render']
  private readonly logRemoved: (fields: LogFields) => void
  /** Set by stop(): nothing new is linked or taken over from then on. */
  private stopping = false

  constructor(private readonly options: SessionManagerOptions) {
    this.ownership = options.ownership ?? SOLE_OWNER
    this.renderQr = (options.qrRenderer ?? inlineQrRenderer).render
    this.linkSlots = new LinkSlots(options.config.maxPendingPerClient)
    // One sweep can remove thousands: a few are listed each second, the rest summed up.
    this.logRemoved = sampledLog(options.logger, 'Idle session removed', 10)
    ;({
      config: this.config,
      logger: this.logger,
      provider: this.provider,
      store: this.store,
      broadcaster: this.broadcaster,
    } = options)
  }

  /**
   * Brings back every linked session in the store that this hub may own, reconnecting it through
   * the provider. Returns how many were resumed.
   */
  async load(): Promise<number> {
    let resumed = 0
    for (const id of await this.store.ids()) {
      try {
        if ((await this.adopt(id)) === 'resumed') resumed += 1
      } catch (error) {
        // A read that failed (not data that is damaged): the session stays stored, untouched,
        // and comes back at the next start.
        this.logger.error('Could not load a stored session; it stays stored', {
          session_id: id,
          error,
        })
        await this.ownership.release(id)
      }
    }
    return resumed
  }

  /**
   * Takes one stored session over (at start-up, or from a hub that is gone): claims it, then
   * resumes a linked account without a scan. Credentials whose record was never written (a crash
   * in between) are adopted when they hold a completed link, else removed; sessions the hub cannot
   * read are reported as failed and left untouched.
   */
  async adopt(id: string): Promise<'resumed' | 'kept' | 'skipped'> {
    if (this.stopping || this.sessions.has(id) || !(await this.ownership.claim(id))) {
      return 'skipped'
    }
    return this.restoreClaimed(id, { keepLease: false })
  }

  /**
   * adopt() once the lease is this hub's. A failed read gives the lease back (unless a client's
   * request made the session meanwhile), so the session is tried again, here or elsewhere.
   * `keepLease`: a client asked for the session, which is linked afresh if nothing is stored.
   */
  private async restoreClaimed(
    id: string,
    { keepLease }: { keepLease: boolean },
  ): Promise<'resumed' | 'kept' | 'skipped'> {
    try {
      return await this.restoreStored(id, keepLease)
    } catch (error) {
      if (!this.sessions.has(id)) await this.ownership.release(id)
      throw error
    }
  }

  private async restoreStored(
    id: string,
    keepLease: boolean,
  ): Promise<'resumed' | 'kept' | 'skipped'> {
    const found = await this.store.load(id)
    // A client asked for this session meanwhile (get_qr): it is here already, as asked.
    if (this.sessions.has(id)) return 'skipped'
    if (found.kind === 'unreadable') {
      this.keepUnreadable(found.problem)
      return 'kept'
    }
    if (found.kind === 'none') {
      if (keepLease) return 'skipped'
      await this.store.remove(id)
    }
    const record =
      found.kind === 'record'
        ? found.record
        : found.kind === 'orphan'
          ? await this.adoptOrRemove(id)
          : undefined
    if (record === 'unreadable') return 'kept'
    if (record?.provider !== this.provider.name) {
      if (record) {
        this.logger.info('Keeping a stored session of another provider untouched', {
          session_id: record.id,
          provider: record.provider,
        })
      }
      if (!keepLease) await this.ownership.release(id)
      return 'skipped'
    }
    if (this.sessions.has(id) || this.stopping) return 'skipped'
    const session = this.create(record.id)
    session.user = record.user
    session.active = true
    session.timeline = await session.data.loadTimeline(this.logger)
    this.setStatus(session, { status: 'authenticated', reconnecting: true, user: record.user })
    try {
      await this.provider.resume(this.providerSession(session))
    } catch (error) {
      this.fail(session, error)
    }
    return 'resumed'
  }

  /**
   * This hub may no longer act for the session (another hub holds its lease now): its connection
   * closes and it is forgotten here, without a word to its room and without touching its data.
   */
  evict(id: string): void {
    const session = this.sessions.get(id)
    if (!session) return
    session.generation += 1
    this.provider
      .close(id)
      .catch((error: unknown) =>
        this.logger.warn('Provider close failed', { session_id: id, error }),
      )
    this.counts[session.status] -= 1
    this.dropLimiter(id, 'another hub owns the session now')
    this.sessions.delete(id)
    this.logger.info('Session handed to another hub', { session_id: id })
  }

  private async adoptOrRemove(id: string): Promise<SessionRecord | 'unreadable' | undefined> {
    let user: LinkedUser | undefined
    try {
      user = await this.provider.inspect(this.store.open(id).credentials)
    } catch (error) {
      // A failed read is tried again next time; data that cannot be read is left as it is.
      if (!(error instanceof SealError || error instanceof DamagedDataError)) throw error
      const message =
        error instanceof SealError
          ? 'The stored credentials cannot be read with this data key; nothing was deleted'
          : 'The stored credentials are damaged and cannot be read; nothing was deleted'
      this.logger.error(message, { session_id: id, error })
      this.keepUnreadable({ id, reason: 'damaged', message })
      return 'unreadable'
    }
    if (!user) {
      await this.store.remove(id)
      this.logger.info('Removed the credentials of a link that was never confirmed', {
        session_id: id,
      })
      return undefined
    }
    const record: SessionRecord = {
      id,
      provider: this.provider.name,
      user,
      linked_at: new Date().toISOString(),
    }
    await this.store.open(id).save(record)
    this.logger.info('Adopted stored credentials whose session record was missing', {
      session_id: id,
      user: user.id,
    })
    return record
  }

  private keepUnreadable(problem: UnreadableSession): void {
    const session = this.create(problem.id)
    session.unreadable = problem.message
    this.setStatus(session, { status: 'disconnected', reason: 'failed' })
  }

  startIdleSweeper(): void {
    const every = Math.min(30_000, Math.max(50, Math.floor(this.config.sessionIdleMs / 4)))
    this.sweeper = setInterval(() => {
      this.sweepIdle().catch((error: unknown) =>
        this.logger.warn('Idle cleanup failed; it runs again later', { error }),
      )
    }, every)
    this.sweeper.unref()
  }

  async stop(): Promise<void> {
    this.stopping = true
    clearInterval(this.sweeper)
    for (const session of this.sessions.values()) session.generation += 1
    await this.provider.shutdown()
    await this.store.flush()
  }

  countByStatus(): SessionCounts {
    return { ...this.counts }
  }

  get size(): number {
    return this.sessions.size
  }

  has(sessionId: string): boolean {
    return this.sessions.has(sessionId)
  }

  list(): StatusEvent[] {
    return [...this.sessions.values()].map((session) => this.statusOf(session))
  }

  status(sessionId: string): StatusEvent {
    return this.statusOf(this.require(sessionId))
  }

  /**
   * `subscribe`: the caller joins an existing session's room; nothing is started. The live QR or
   * pairing code, if any, is returned to replay, so a late subscriber can show it at once.
   */
  subscribe(
    sessionId: string,
    join: (sessionId: string) => void,
  ): { status: StatusEvent; replay?: Replay } {
    const session = this.require(sessionId)
    join(sessionId)
    session.lastSubscriberAt = Date.now()
    return { status: this.statusOf(session), replay: this.liveCode(session) }
  }

  /** The QR or pairing code the session is showing right now, if any. */
  private liveCode(session: Session): Replay | undefined {
    if (session.status !== 'qr_ready') return undefined
    if (isLive(session.qr)) return { event: 'qr_code', payload: session.qr }
    if (isLive(session.pairing)) return { event: 'pairing_code', payload: session.pairing }
    return undefined
  }

  /**
   * `get_qr`: creates the session if needed, joins the caller to its room (before anything is
   * emitted there) and starts linking unless a link is already under way. What the caller missed
   * of an ongoing link (the current QR or pairing code, or that it is linked) is returned to replay.
   * `client` is the asking connection: it may have MAX_PENDING_PER_CLIENT links under way.
   */
  async requestLink(
    sessionId: string | undefined,
    phoneNumber: string | undefined,
    join: (sessionId: string) => void,
    client?: string,
  ): Promise<{ status: StatusEvent; replay?: Replay }> {
    const id = sessionId ?? randomUUID()
    if (this.stopping) throw new HubError('unavailable', 'The hub is stopping; try again', id)
    const existing = this.sessions.get(id)
    if (!existing) this.checkRoom(id)
    if (existing?.unreadable) {
      throw new HubError(
        'provider_error',
        `${existing.unreadable}. Fix the data key and restart, or disconnect this session to delete its data and link again`,
        id,
      )
    }
    const mode = phoneNumber && this.provider.supportsPairingCode ? 'pairing' : 'qr'

    if (existing?.status === 'authenticated' && existing.user) {
      join(id)
      existing.lastSubscriberAt = Date.now()
      return {
        status: this.statusOf(existing),
        replay: { event: 'authenticated', payload: this.authenticatedOf(existing, existing.user) },
      }
    }
    // A link in the asked-for mode is under way: show what it shows, or wait for its first code.
    if (existing?.active && existing.mode === mode) {
      const replay = this.liveCode(existing)
      if (replay || existing.status === 'pending') {
        join(id)
        existing.lastSubscriberAt = Date.now()
        return { status: this.statusOf(existing), ...(replay ? { replay } : {}) }
      }
    }
    if (!existing) {
      if (!(await this.ownership.claim(id))) throw new OwnedElsewhereError(id)
      // Created by a concurrent request while the lease was taken: answer as for an existing one.
      if (this.sessions.has(id)) return this.requestLink(id, phoneNumber, join, client)
      // A fleet hub takes stored sessions over after it starts listening (and those of a hub
      // that is gone): one asked for before its turn is restored now, never linked afresh over
      // its credentials.
      if (this.options.restoreOnRequest) {
        await this.restoreClaimed(id, { keepLease: true })
        if (this.sessions.has(id)) return this.requestLink(id, phoneNumber, join, client)
      }
      try {
        this.checkRoom(id) // others may have filled the hub during the claim
      } catch (error) {
        await this.ownership.release(id)
        throw error
      }
    }
    if (client !== undefined) {
      try {
        await this.linkSlots.reserve(client, id, (ids) =>
          ids.map((started) => {
            const linking = this.sessions.get(started)
            return Boolean(
              linking?.active && linking.startedBy === client && linking.status !== 'authenticated',
            )
          }),
        )
      } catch (error) {
        // Refused (MAX_PENDING_PER_CLIENT): a lease taken for a new session goes back.
        if (!existing && !this.sessions.has(id)) await this.ownership.release(id)
        throw error
      }
      // Another client's request made the session while this one waited: answer as for it.
      if (!existing && this.sessions.has(id)) return this.requestLink(id, phoneNumber, join, client)
    }
    const session = existing ?? this.create(id)
    join(id)
    session.lastSubscriberAt = Date.now()
    session.startedBy = client
    await this.startLink(session, mode === 'pairing' ? phoneNumber : undefined)
    return { status: this.statusOf(session) }
  }

  private checkRoom(id: string): void {
    if (this.sessions.size < this.config.maxSessions) return
    throw new HubError(
      'limit_reached',
      `the hub holds its maximum of ${this.config.maxSessions} sessions (MAX_SESSIONS); disconnect one or try later`,
      id,
    )
  }

  /** A client left: its links under way no longer count against it. */
  forgetClient(client: string): void {
    this.linkSlots.forget(client)
  }

  /** `get_timeline`: the account's last connection events, oldest first. */
  timeline(sessionId: string): TimelineEntry[] {
    return [...this.require(sessionId).timeline]
  }

  /** `disconnect_whatsapp`: logs the link out, deletes its credentials, tells the room. */
  async disconnect(sessionId: string): Promise<StatusEvent> {
    const session = this.require(sessionId)
    session.generation += 1
    if (session.active) {
      try {
        await this.provider.logout(sessionId)
      } catch (error) {
        this.logger.warn('Provider logout failed; removing the credentials anyway', {
          session_id: sessionId,
          error,
        })
      }
    }
    await this.store.remove(sessionId)
    session.unreadable = undefined
    this.end(session, 'logout')
    return this.statusOf(session)
  }

  async sendMessage(sessionId: string, to: string, text: string): Promise<string> {
    const session = this.require(sessionId)
    if (session.status !== 'authenticated') {
      throw new HubError(
        'not_authenticated',
        'this session is not linked to a WhatsApp account',
        sessionId,
      )
    }
    await this.limiterFor(sessionId).take(sessionId)
    if (session.status !== 'authenticated') {
      throw new HubError(
        'not_authenticated',
        'the session was unlinked before the message went out',
        sessionId,
      )
    }
    try {
      return (await this.provider.sendMessage(sessionId, to, text)).messageId
    } catch (error) {
      if (error instanceof ProviderError) throw new HubError(error.code, error.message, sessionId)
      this.logger.error('Sending a message failed', { session_id: sessionId, error })
      throw new HubError('provider_error', 'WhatsApp did not accept the message', sessionId)
    }
  }

  /** The simulated phone scans `qr_data`; see the simulate-scan HTTP endpoint. */
  async simulateScan(sessionId: string, body: SimulateScanBody) {
    this.require(sessionId)
    const simulator = this.provider.simulator
    if (!simulator) return 'unsupported' as const
    return simulator.scan(sessionId, body.qr_data, { name: body.name, phone: body.phone })
  }

  simulateMessage(sessionId: string, from: string, text: string) {
    const session = this.require(sessionId)
    const simulator = this.provider.simulator
    if (!simulator) return 'unsupported' as const
    if (session.status !== 'authenticated') {
      throw new HubError(
        'not_authenticated',
        'this session is not linked to a WhatsApp account',
        sessionId,
      )
    }
    return simulator.deliver(sessionId, from, text)
  }

  /** The simulated WhatsApp goes silent on a linked session, or answers again. */
  simulateSilence(sessionId: string, silent: boolean): 'ok' | 'unsupported' {
    const session = this.require(sessionId)
    const simulator = this.provider.simulator
    if (!simulator) return 'unsupported'
    if (session.status !== 'authenticated') {
      throw new HubError(
        'not_authenticated',
        'this session is not linked to a WhatsApp account',
        sessionId,
      )
    }
    simulator.silence(sessionId, silent)
    return 'ok'
  }

  /**
   * Removes sessions that are not linked and have had no subscriber for SESSION_IDLE_MS, here or
   * (in a fleet) on another hub.
   */
  async sweepIdle(now = Date.now()): Promise<number> {
    const idle: Session[] = []
    for (const session of this.sessions.values()) {
      // Linked sessions stay; so do unreadable ones, whose data only a person may delete.
      if (session.status === 'authenticated' || session.unreadable) continue
      if (this.broadcaster.subscriberCount(session.id) > 0) {
        session.lastSubscriberAt = now
        continue
      }
      if (now - session.lastSubscriberAt >= this.config.sessionIdleMs) idle.push(session)
    }
    let removed = 0
    for (const session of idle) {
      if (await this.broadcaster.watchedElsewhere?.(session.id)) {
        session.lastSubscriberAt = now
        continue
      }
      // Still the same session, still idle, after the wait.
      if (this.sessions.get(session.id) !== session || session.status === 'authenticated') continue
      this.remove(session)
      removed += 1
    }
    this.logger.debug('Idle cleanup ran', { removed, sessions: this.sessions.size })
    return removed
  }

  /** A client left a room: its sessions start their idle clock from now. */
  touch(sessionId: string): void {
    const session = this.sessions.get(sessionId)
    if (session) session.lastSubscriberAt = Date.now()
  }

  private remove(session: Session): void {
    const { id } = session
    session.generation += 1
    const wasLinking = session.status !== 'disconnected'
    const gone: StatusEvent = {
      ...this.statusOf(session),
      status: 'disconnected',
      reason: 'inactive',
    }
    // Also after a link ended: the provider forgets whatever it still holds for the session.
    this.provider
      .close(id)
      .catch((error: unknown) =>
        this.logger.warn('Provider close failed', { session_id: id, error }),
      )
    this.counts[session.status] -= 1
    this.dropLimiter(id, 'the session was removed')
    this.sessions.delete(id)
    this.logRemoved({ session_id: id, status: session.status })
    // Written, then announced: the room hears of it once its data is gone (unless the id was
    // asked for again meanwhile: its room belongs to the new session then).
    void this.forget(id).then(() => {
      if (this.sessions.has(id)) return
      if (wasLinking) {
        this.broadcaster.toSession(id, 'disconnected', {
          type: 'disconnected',
          session_id: id,
          reason: 'inactive',
          message: DISCONNECT_MESSAGES.inactive,
        })
      }
      this.options.onChange(gone)
    })
  }

  /** Deletes a removed session's data, then lets go of it (in that order: the lease fences both). */
  private async forget(sessionId: string): Promise<void> {
    try {
      await this.store.remove(sessionId)
      await this.options.onRemoved?.(sessionId)
    } catch (error) {
      this.logger.error('Could not delete the data of a removed session', {
        session_id: sessionId,
        error,
      })
    }
    // Asked for again meanwhile (a new session under the same id): the lease is its own now.
    if (!this.sessions.has(sessionId)) await this.ownership.release(sessionId)
  }

  private limiterFor(sessionId: string): SendLimiter {
    let limiter = this.limiters.get(sessionId)
    if (!limiter) {
      const { sendRatePerS, sendBurst, sendQueueMax } = this.config
      limiter = new SendLimiter(sendRatePerS, sendBurst, sendQueueMax)
      this.limiters.set(sessionId, limiter)
    }
    return limiter
  }

  private dropLimiter(sessionId: string, reason: string): void {
    this.limiters.get(sessionId)?.cancel(reason)
    this.limiters.delete(sessionId)
  }

  private create(id: string): Session {
    if (this.sessions.has(id)) throw new Error(`session ${id} exists already`)
    const session: Session = {
      id,
      status: 'pending',
      reconnecting: false,
      updatedAt: new Date(),
      lastSubscriberAt: Date.now(),
      active: false,
      mode: 'qr',
      generation: 0,
      data: this.store.open(id),
      health: 'ok',
      timeline: [],
    }
    this.sessions.set(id, session)
    this.counts.pending += 1
    // Debug: at 600 new sessions a second, a line each costs the hub measurably (performance.md).
    this.logger.debug('Session created', { session_id: id })
    return session
  }

  private async startLink(session: Session, phoneNumber: string | undefined): Promise<void> {
    // Any link before this one (even one whose end is not announced yet: its data is being
    // deleted, and the handle with it) leaves nothing to build on.
    const hadLink = session.generation > 0 || session.status === 'disconnected' || session.active
    if (session.active) {
      await this.provider.close(session.id).catch(() => undefined)
    }
    session.generation += 1
    session.active = true
    session.mode = phoneNumber ? 'pairing' : 'qr'
    session.qr = undefined
    session.pairing = undefined
    this.setStatus(session, {
      status: 'pending',
      reconnecting: false,
      reason: undefined,
      user: undefined,
    })
    // A new link starts from scratch: leftovers of an ended one must not be resumed.
    if (hadLink) {
      await this.store.remove(session.id)
      session.data = this.store.open(session.id)
    }
    try {
      await this.provider.link(this.providerSession(session), { phoneNumber })
    } catch (error) {
      this.fail(session, error)
      throw new HubError(
        'provider_error',
        'The WhatsApp provider could not start linking',
        session.id,
      )
    }
  }

  /** A provider threw: only this session suffers, and its room hears why. */
  private fail(session: Session, error: unknown): void {
    this.logger.error('Provider failed for a session', { session_id: session.id, error })
    this.broadcaster.toSession(session.id, 'error', {
      type: 'error',
      code: 'provider_error',
      message: 'The WhatsApp provider failed for this session',
      session_id: session.id,
    })
    this.options.metrics.error('provider_error')
    session.generation += 1
    this.provider.close(session.id).catch(() => undefined)
    this.end(session, 'failed')
  }

  private providerSession(session: Session) {
    return {
      id: session.id,
      store: session.data.credentials,
      sink: this.sinkFor(session),
    }
  }

  private sinkFor(session: Session): SessionSink {
    const generation = session.generation
    // Callbacks of an older link, of a removed session, or arriving after this hub lost the
    // session to another (a fleet) are ignored: only the current owner's link speaks.
    const current = () =>
      session.generation === generation &&
      this.sessions.get(session.id) === session &&
      this.ownership.mayAct(session.id)
    const guard =
      <A extends unknown[]>(handler: (...args: A) => void) =>
      (...args: A) => {
        if (!current()) return
        try {
          handler(...args)
        } catch (error) {
          this.fail(session, error)
        }
      }
    return {
      qr: guard((qr: ProviderQr) => this.onQr(session, qr, current)),
      pairingCode: guard((code: string, ttlMs: number) => this.onPairingCode(session, code, ttlMs)),
      authenticated: async (user: LinkedUser) => {
        if (!current()) return
        try {
          await this.onAuthenticated(session, user, current)
        } catch (error) {
          if (current()) this.fail(session, error)
          throw error
        }
      },
      reconnecting: guard((active: boolean, detail?: ConnectionDetail) => {
        if (active) this.noteDrop(session, detail)
        if (session.reconnecting !== active) this.setStatus(session, { reconnecting: active })
      }),
      health: guard((state: HealthState, reason?: string) => this.onHealth(session, state, reason)),
      disconnected: guard(
        (reason: DisconnectReason, detail?: { code?: number; message?: string }) => {
          // The provider has stopped the link; its credentials go before the end is announced.
          session.generation += 1
          session.active = false
          const ended = session.generation
          const announce = () => {
            if (session.generation === ended && this.sessions.get(session.id) === session) {
              this.end(session, reason, detail)
            }
          }
          this.store.remove(session.id).then(announce, (error: unknown) => {
            this.logger.error('Could not delete ended session credentials', {
              session_id: session.id,
              error,
            })
            announce()
          })
        },
      ),
      message: guard((message: IncomingMessage) =>
        this.broadcaster.toSession(session.id, 'message', {
          type: 'message',
          session_id: session.id,
          id: message.id,
          from: message.from,
          ...(message.fromPn ? { from_pn: message.fromPn } : {}),
          ...(message.fromLid ? { from_lid: message.fromLid } : {}),
          text: message.text,
          kind: message.kind,
          timestamp: message.timestamp.toISOString(),
        }),
      ),
    }
  }

  /**
   * Shows a QR: rendered once (on the render thread when there is one), then stored, sent to the
   * room and the status set, unless the link moved on while it was rendered.
   */
  private onQr(session: Session, qr: ProviderQr, current: () => boolean): void {
    const issued = new Date()
    const image = this.renderQr(qr.data)
    if (typeof image === 'string') {
      this.showQr(session, qr, issued, image)
      return
    }
    image.then(
      (rendered) => {
        if (current()) this.showQr(session, qr, issued, rendered)
      },
      (error: unknown) => {
        if (current()) this.fail(session, error)
      },
    )
  }

  private showQr(session: Session, qr: ProviderQr, issued: Date, image: string): void {
    const expires = new Date(issued.getTime() + qr.ttlMs)
    session.qr = {
      type: 'qr_code',
      session_id: session.id,
      qr_data: qr.data,
      qr_image: image,
      issued_at: issued.toISOString(),
      expires_at: expires.toISOString(),
      attempt: qr.attempt,
      attempts_max: qr.attemptsMax,
      message: `Scan this code with WhatsApp → Linked devices (code ${qr.attempt} of ${qr.attemptsMax})`,
    }
    this.options.metrics.qrRendered()
    this.broadcaster.toSession(session.id, 'qr_code', session.qr)
    this.logger.debug(qr.attempt === 1 ? 'QR issued' : 'QR expired; next QR issued', {
      session_id: session.id,
      attempt: qr.attempt,
      attempts_max: qr.attemptsMax,
    })
    if (session.status !== 'qr_ready') this.setStatus(session, { status: 'qr_ready' })
  }

  private onPairingCode(session: Session, code: string, ttlMs: number): void {
    const expires = new Date(Date.now() + ttlMs)
    session.pairing = {
      type: 'pairing_code',
      session_id: session.id,
      code,
      expires_at: expires.toISOString(),
      message:
        'On the phone: WhatsApp → Linked devices → Link with phone number, then enter this code',
    }
    this.broadcaster.toSession(session.id, 'pairing_code', session.pairing)
    this.logger.info('Pairing code issued', { session_id: session.id })
    if (session.status !== 'qr_ready') this.setStatus(session, { status: 'qr_ready' })
  }

  /**
   * A link is confirmed. A new link's record is durable before anyone hears of it: the status push,
   * `authenticated` and the simulate-scan 200 all promise that it survives a crash.
   */
  private async onAuthenticated(
    session: Session,
    user: LinkedUser,
    current: () => boolean,
  ): Promise<void> {
    const wasLinked = session.status === 'authenticated' && session.user?.id === user.id
    if (!wasLinked) {
      await session.data.save({
        id: session.id,
        provider: this.provider.name,
        user,
        linked_at: new Date().toISOString(),
      })
      // Disconnected or removed while the record was written: there is nothing to announce.
      if (!current()) return
    }
    session.qr = undefined
    session.pairing = undefined
    this.setStatus(session, {
      status: 'authenticated',
      reconnecting: false,
      reason: undefined,
      user,
      health: 'ok',
      healthReason: undefined,
    })
    this.note(session, wasLinked ? 'connected' : 'linked', {
      text: wasLinked ? 'Connected to WhatsApp again' : `Linked to ${user.name}`,
      action: 'none',
    })
    this.broadcaster.toSession(session.id, 'authenticated', this.authenticatedOf(session, user))
    this.logger.info(wasLinked ? 'Session reconnected' : 'Session authenticated', {
      session_id: session.id,
      user: user.id,
    })
  }

  private end(
    session: Session,
    reason: DisconnectReason,
    detail?: { code?: number; message?: string },
  ): void {
    this.dropLimiter(session.id, 'the session was disconnected')
    session.active = false
    session.qr = undefined
    session.pairing = undefined
    if (session.status === 'authenticated') {
      this.note(session, 'ended', {
        code: detail?.code,
        text: detail?.message ?? DISCONNECT_MESSAGES[reason],
        action: ENDED_ACTIONS[reason],
      })
    }
    this.setStatus(session, {
      status: 'disconnected',
      reconnecting: false,
      reason,
      user: undefined,
      health: 'ok',
      healthReason: undefined,
    })
    this.broadcaster.toSession(session.id, 'disconnected', {
      type: 'disconnected',
      session_id: session.id,
      reason,
      ...(detail?.code === undefined ? {} : { code: detail.code }),
      message: detail?.message ?? DISCONNECT_MESSAGES[reason],
    })
    this.logger.info('Session disconnected', { session_id: session.id, reason, code: detail?.code })
  }

  private setStatus(
    session: Session,
    patch: Partial<
      Pick<Session, 'status' | 'reconnecting' | 'reason' | 'user' | 'health' | 'healthReason'>
    >,
  ): void {
    const changed =
      (patch.status !== undefined && patch.status !== session.status) ||
      (patch.reconnecting !== undefined && patch.reconnecting !== session.reconnecting) ||
      (patch.health !== undefined && patch.health !== session.health) ||
      ('healthReason' in patch && patch.healthReason !== session.healthReason) ||
      ('reason' in patch && patch.reason !== session.reason) ||
      ('user' in patch && patch.user?.id !== session.user?.id)
    if (!changed) return
    if (patch.status && patch.status !== session.status) {
      this.counts[session.status] -= 1
      this.counts[patch.status] += 1
    }
    Object.assign(session, patch)
    session.updatedAt = new Date()
    const status = this.statusOf(session)
    this.broadcaster.toSession(session.id, 'status', status)
    this.options.onChange(status)
  }

  private require(sessionId: string): Session {
    const session = this.sessions.get(sessionId)
    if (!session)
      throw new HubError('unknown_session', `no session with id ${sessionId}`, sessionId)
    return session
  }

  private onHealth(session: Session, state: HealthState, reason: string | undefined): void {
    if (session.status !== 'authenticated' || state === session.health) return
    this.setStatus(session, { health: state, healthReason: state === 'ok' ? undefined : reason })
    this.note(session, state === 'ok' ? 'recovered' : 'degraded', {
      text: state === 'ok' ? 'WhatsApp answers again' : (reason ?? 'WhatsApp went silent'),
      action: state === 'ok' ? 'none' : 'watching; reconnecting if it stays silent',
    })
    this.logger.warn(state === 'ok' ? 'Account healthy again' : 'Account degraded', {
      session_id: session.id,
      reason,
    })
  }

  private noteDrop(session: Session, detail: ConnectionDetail | undefined): void {
    if (session.status !== 'authenticated') return
    const retry = detail?.retryInMs
    this.note(session, 'dropped', {
      code: detail?.code,
      text: detail?.message ?? 'The connection to WhatsApp was lost',
      action:
        retry === undefined
          ? 'reconnecting'
          : `reconnecting in ${Math.max(1, Math.round(retry / 1000))} s`,
    })
  }

  /**
   * Adds a connection event to the session's timeline, and stores the timeline while the account
   * is linked (an unlinked session has no data of its own to keep it in).
   */
  private note(
    session: Session,
    event: TimelineEventKind,
    entry: { code?: number; text: string; action: string },
  ): void {
    session.timeline.push({
      at: new Date().toISOString(),
      event,
      ...(entry.code === undefined ? {} : { code: entry.code }),
      text: entry.text,
      action: entry.action,
    })
    if (session.timeline.length > TIMELINE_MAX) session.timeline.shift()
    if (session.status !== 'authenticated' && event !== 'linked') return
    session.data
      .saveTimeline(session.timeline)
      .catch((error: unknown) =>
        this.logger.warn('Could not store an account timeline', { session_id: session.id, error }),
      )
  }

  private authenticatedOf(session: Session, user: LinkedUser): AuthenticatedEvent {
    return {
      type: 'authenticated',
      session_id: session.id,
      user,
      message: `Linked to ${user.name}`,
    }
  }

  private statusOf(session: Session): StatusEvent {
    return {
      type: 'status',
      session_id: session.id,
      status: session.status,
      authenticated: session.status === 'authenticated',
      reconnecting: session.reconnecting,
      health: session.health,
      ...(session.healthReason ? { health_reason: session.healthReason } : {}),
      ...(session.reason ? { reason: session.reason } : {}),
      ...(session.user ? { user: session.user } : {}),
      message: describeStatus(session),
      updated_at: session.updatedAt.toISOString(),
    }
  }
}

/** What the hub did when a link ended, for the timeline. */
const ENDED_ACTIONS: Record<DisconnectReason, string> = {
  logout: 'logged out and deleted the credentials',
  logged_out_remote: 'deleted the credentials; a new scan is needed',
  qr_timeout: 'stopped waiting for a scan',
  replaced: 'not reconnecting: another connection took over',
  inactive: 'removed the idle session',
  failed: 'gave up; a new scan is needed',
}

function describeStatus(session: Session): string {
  if (session.unreadable) return session.unreadable
  if (session.reconnecting) return 'Connection to WhatsApp lost; reconnecting'
  switch (session.status) {
    case 'pending':
      return 'Waiting for WhatsApp to issue a code'
    case 'qr_ready':
      return session.mode === 'pairing'
        ? 'Enter the pairing code on the phone'
        : 'Scan the QR code with WhatsApp → Linked devices'
    case 'authenticated':
      return session.user ? `Linked to ${session.user.name}` : 'Linked'
    case 'disconnected':
      return session.reason ? DISCONNECT_MESSAGES[session.reason] : 'Disconnected'
  }
}
