import {
  Browsers,
  DEFAULT_CONNECTION_CONFIG,
  DisconnectReason,
  fetchLatestBaileysVersion,
  isLidUser,
  jidNormalizedUser,
  makeCacheableSignalKeyStore,
  makeWASocket,
  toNumber,
  type BaileysEventMap,
  type ConnectionState,
  type Contact,
  type UserFacingSocketConfig,
  type WAMessage,
  type WASocket,
  type WAVersion,
} from '@whiskeysockets/baileys'
import type { Logger } from '../logger'
import type { LinkedUser, MessageKind } from '../protocol'
import {
  isLinked,
  readLinkedCreds,
  useStoreAuthState,
  type StoreAuthState,
} from './baileys-auth-store'
import {
  ProviderError,
  toJid,
  type IncomingMessage,
  type LinkOptions,
  type ProviderContext,
  type ProviderSession,
  type WhatsAppProvider,
} from './provider'

/** The part of Baileys' socket we use. Typed from Baileys itself, so an API change fails tsc. */
export type BaileysSocket = Pick<
  WASocket,
  'ev' | 'user' | 'end' | 'logout' | 'requestPairingCode' | 'sendMessage'
>
export type SocketFactory = (config: UserFacingSocketConfig) => BaileysSocket

export interface BaileysDependencies {
  /** `cfg => makeWASocket(cfg)` in production; tests pass a fake. */
  makeSocket?: SocketFactory
  /** WhatsApp Web version lookup (needs the network); tests pass a stub. */
  fetchVersion?: () => Promise<{ version: WAVersion }>
  /** Extra socket settings (tests point `waWebSocketUrl` at a closed port). */
  socketConfig?: Partial<UserFacingSocketConfig>
  backoff?: { initialMs: number; maxMs: number; stableMs: number }
  random?: () => number
}

const VERSION_LOOKUP_TIMEOUT_MS = 3000
const DEFAULT_BACKOFF = { initialMs: 1000, maxMs: 60_000, stableMs: 30_000 }

interface Link {
  session: ProviderSession
  auth: StoreAuthState
  socket?: BaileysSocket
  /** QRs shown in this link attempt. */
  attempt: number
  phoneNumber?: string
  pairingRequested: boolean
  /** While a pairing request is in flight Baileys mutates creds; those must not be saved. */
  pairingInFlight: boolean
  open: boolean
  everOpened: boolean
  failures: number
  reconnectTimer?: NodeJS.Timeout
  stableTimer?: NodeJS.Timeout
  /** We ended it (close, logout, shutdown): its socket's `close` means nothing. */
  stopped: boolean
}

/**
 * Real WhatsApp through Baileys: one socket and one credential folder per session. Maps Baileys'
 * connection updates onto the hub's protocol (see docs/protocol.md): QR codes, pairing codes,
 * authenticated, transient drops with backoff, and the reasons a link ends.
 */
export function createBaileysProvider(
  { config, logger }: ProviderContext,
  dependencies: BaileysDependencies = {},
): WhatsAppProvider {
  const makeSocket = dependencies.makeSocket ?? ((cfg: UserFacingSocketConfig) => makeWASocket(cfg))
  const backoff = dependencies.backoff ?? DEFAULT_BACKOFF
  const random = dependencies.random ?? Math.random
  const baileysLogger = bridgeLogger(logger, config.debug ? 'debug' : 'warn')
  const links = new Map<string, Link>()

  // The current WhatsApp Web version, looked up once in the background; never blocks a link.
  let version: WAVersion = DEFAULT_CONNECTION_CONFIG.version
  const lookup = dependencies.fetchVersion ?? (() => fetchLatestBaileysVersion())
  void Promise.race([
    lookup(),
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error('timed out')), VERSION_LOOKUP_TIMEOUT_MS).unref(),
    ),
  ]).then(
    (latest) => {
      version = latest.version
    },
    (error: unknown) =>
      logger.debug('Using the bundled WhatsApp Web version', { reason: (error as Error).message }),
  )

  const connect = (link: Link) => {
    const { state, saveCreds } = link.auth
    const socket = makeSocket({
      auth: { creds: state.creds, keys: makeCacheableSignalKeyStore(state.keys, baileysLogger) },
      version,
      browser: Browsers.ubuntu('WA Link Hub'),
      logger: baileysLogger,
      markOnlineOnConnect: false,
      syncFullHistory: false,
      qrTimeout: config.qrTtlMs,
      ...dependencies.socketConfig,
    })
    link.socket = socket
    // Subscribe in the same tick: the socket starts emitting right away.
    socket.ev.on('creds.update', () => {
      if (link.pairingInFlight) return
      saveCreds().catch((error: unknown) =>
        logger.error('Could not save WhatsApp credentials', { session_id: link.session.id, error }),
      )
    })
    socket.ev.on('connection.update', (update) => {
      if (link.socket !== socket || link.stopped) return
      onConnectionUpdate(link, socket, update)
    })
    socket.ev.on('messages.upsert', (upsert) => {
      if (link.socket !== socket || link.stopped) return
      onMessages(link, upsert)
    })
  }

  const onConnectionUpdate = (
    link: Link,
    socket: BaileysSocket,
    update: Partial<ConnectionState>,
  ) => {
    const { sink } = link.session
    if (update.qr) {
      if (link.phoneNumber && !isLinked(link.auth.state.creds)) {
        if (!link.pairingRequested) void requestPairingCode(link, socket, link.phoneNumber)
      } else {
        link.attempt += 1
        const ttlMs = link.attempt === 1 ? config.qrTtlFirstMs : config.qrTtlMs
        sink.qr({ data: update.qr, ttlMs, attempt: link.attempt, attemptsMax: config.qrMax })
      }
    }
    if (update.connection === 'open') {
      link.open = true
      link.everOpened = true
      clearTimeout(link.stableTimer)
      // The backoff forgets past failures only once the connection has proved stable.
      link.stableTimer = setTimeout(() => {
        link.failures = 0
      }, backoff.stableMs)
      link.stableTimer.unref()
      const me = socket.user
      if (me) void announce(link, linkedUser(me))
      return
    }
    if (update.connection === 'close') {
      link.open = false
      clearTimeout(link.stableTimer)
      onClose(link, update.lastDisconnect?.error)
    }
  }

  const onClose = (link: Link, error: Error | undefined) => {
    const { sink, id } = link.session
    const code = (error as { output?: { statusCode?: number } } | undefined)?.output?.statusCode
    const message = error?.message ?? 'connection closed'
    logger.debug('WhatsApp connection closed', { session_id: id, code, reason: message })
    switch (code) {
      case DisconnectReason.restartRequired:
        // Normal right after a scan: WhatsApp wants a fresh connection with the new credentials.
        connect(link)
        return
      case DisconnectReason.loggedOut:
        return finish(link, () => sink.disconnected('logged_out_remote', { code }))
      case DisconnectReason.connectionReplaced:
        return finish(link, () => sink.disconnected('replaced', { code }))
      case DisconnectReason.badSession:
      case DisconnectReason.forbidden:
      case DisconnectReason.multideviceMismatch:
        return finish(link, () => sink.disconnected('failed', { code, message }))
    }
    if (!isLinked(link.auth.state.creds) && /QR refs attempts ended/i.test(message)) {
      return finish(link, () => sink.disconnected('qr_timeout', { code }))
    }
    // 428, 408, 503, a plain Error without a status: a drop, not the end of the link.
    sink.reconnecting(true)
    const jittered = reconnectDelay(link.failures, backoff, random)
    link.failures += 1
    logger.info('WhatsApp connection lost; reconnecting', { session_id: id, code, in_ms: jittered })
    link.reconnectTimer = setTimeout(() => {
      link.reconnectTimer = undefined
      if (!link.stopped) connect(link)
    }, jittered)
    link.reconnectTimer.unref()
  }

  /**
   * Reports the link once its credentials are durable: an announced link survives a crash. Baileys
   * does not wait for `creds.update` listeners, so the creds are written here once more and every
   * write is awaited, whatever order the buffered events came in.
   */
  const announce = async (link: Link, user: LinkedUser) => {
    try {
      await link.auth.saveCreds()
      await link.auth.flush()
      if (!link.stopped) await link.session.sink.authenticated(user)
    } catch (error) {
      logger.error('Could not confirm a WhatsApp link', { session_id: link.session.id, error })
    }
  }

  const requestPairingCode = async (link: Link, socket: BaileysSocket, digits: string) => {
    link.pairingRequested = true
    link.pairingInFlight = true
    try {
      const code = await socket.requestPairingCode(digits)
      link.pairingInFlight = false
      await link.auth.saveCreds()
      link.session.sink.pairingCode(code, config.qrTtlFirstMs)
    } catch (error) {
      link.pairingInFlight = false
      logger.warn('WhatsApp refused the pairing code request', {
        session_id: link.session.id,
        error,
      })
      finish(link, () =>
        link.session.sink.disconnected('failed', {
          message: 'WhatsApp refused the pairing code request',
        }),
      )
    }
  }

  const onMessages = (link: Link, upsert: BaileysEventMap['messages.upsert']) => {
    if (upsert.type !== 'notify') return
    for (const message of upsert.messages) {
      const incoming = toIncoming(message)
      if (incoming) link.session.sink.message(incoming)
    }
  }

  /** Stops a link for good and reports why. */
  const finish = (link: Link, report: () => void) => {
    stop(link)
    links.delete(link.session.id)
    report()
  }

  /** From now on the link's timers are cancelled and its socket's events ignored. */
  const halt = (link: Link) => {
    link.stopped = true
    clearTimeout(link.reconnectTimer)
    clearTimeout(link.stableTimer)
  }

  const stop = (link: Link) => {
    halt(link)
    void link.socket?.end(undefined)
  }

  const start = async (session: ProviderSession, options: LinkOptions & { resume?: boolean }) => {
    const previous = links.get(session.id)
    if (previous) {
      stop(previous)
      await previous.auth.flush()
    }
    const auth = await useStoreAuthState(session.store, logger)
    if (options.resume && !isLinked(auth.state.creds)) {
      session.sink.disconnected('failed', { message: 'stored WhatsApp credentials are missing' })
      return
    }
    const link: Link = {
      session,
      auth,
      attempt: 0,
      phoneNumber: options.phoneNumber,
      pairingRequested: false,
      pairingInFlight: false,
      open: false,
      everOpened: false,
      failures: 0,
      stopped: false,
    }
    links.set(session.id, link)
    // Until WhatsApp confirms the stored link, a resumed session is "reconnecting".
    if (options.resume) session.sink.reconnecting(true)
    connect(link)
  }

  return {
    name: 'baileys',
    supportsPairingCode: true,

    link: (session, options) => start(session, options),
    resume: (session) => start(session, { resume: true }),

    async inspect(credentials) {
      const creds = await readLinkedCreds(credentials)
      return creds?.me ? linkedUser(creds.me) : undefined
    },

    async logout(sessionId) {
      const link = links.get(sessionId)
      if (!link) return
      links.delete(sessionId)
      halt(link)
      try {
        // logout() needs a live connection; offline, end() at least closes the socket.
        if (!link.open) throw new Error('not connected')
        await link.socket?.logout()
      } catch {
        await link.socket?.end(undefined)
      }
      await link.auth.flush()
    },

    async close(sessionId) {
      const link = links.get(sessionId)
      if (!link) return
      links.delete(sessionId)
      stop(link)
      await link.auth.flush()
    },

    async sendMessage(sessionId, to, text) {
      const link = links.get(sessionId)
      if (!link?.open || !link.socket) {
        throw new ProviderError(
          'the WhatsApp connection is not open right now',
          'not_authenticated',
        )
      }
      const sent = await link.socket.sendMessage(toJid(to), { text })
      const id = sent?.key.id
      if (!id) throw new ProviderError('WhatsApp did not confirm the message')
      return { messageId: id }
    },

    async shutdown() {
      const all = [...links.values()]
      links.clear()
      for (const link of all) stop(link)
      await Promise.all(all.map((link) => link.auth.flush()))
    },
  }
}

function linkedUser(me: Contact): LinkedUser {
  const jid = jidNormalizedUser(me.id)
  return { id: jid, name: me.name ?? me.notify ?? me.verifiedName ?? `+${jid.split('@')[0]}` }
}

/**
 * Exponential backoff with jitter: 1 s, 2 s, 4 s… capped at `maxMs`, each picked at random in the
 * upper half of its step so many accounts do not reconnect in lockstep.
 */
export function reconnectDelay(
  failures: number,
  backoff: { initialMs: number; maxMs: number },
  random: () => number = Math.random,
): number {
  const step = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(failures, 30))
  return Math.round(step / 2 + (random() * step) / 2)
}

/** A received message as the hub reports it; null for what is not a message from someone else. */
export function toIncoming(message: WAMessage): IncomingMessage | null {
  const { key } = message
  if (key.fromMe || !key.remoteJid || key.remoteJid === 'status@broadcast' || !message.message)
    return null
  // Newer chats address people by LID; the phone form, when WhatsApp gives it, is more useful.
  const jid = isLidUser(key.remoteJid) && key.remoteJidAlt ? key.remoteJidAlt : key.remoteJid
  const content = message.message
  const [kind, text] = describeContent(content)
  return {
    id: key.id ?? '',
    from: jidNormalizedUser(jid) || jid,
    text,
    kind,
    timestamp: new Date(toNumber(message.messageTimestamp) * 1000 || Date.now()),
  }
}

function describeContent(content: NonNullable<WAMessage['message']>): [MessageKind, string] {
  if (content.conversation) return ['text', content.conversation]
  if (content.extendedTextMessage?.text) return ['text', content.extendedTextMessage.text]
  if (content.imageMessage) return ['image', content.imageMessage.caption || '[image]']
  if (content.videoMessage) return ['video', content.videoMessage.caption || '[video]']
  if (content.audioMessage) return ['audio', '[audio]']
  if (content.documentMessage) return ['document', content.documentMessage.fileName || '[document]']
  if (content.stickerMessage) return ['sticker', '[sticker]']
  if (content.locationMessage) return ['location', '[location]']
  if (content.contactMessage) return ['contact', content.contactMessage.displayName || '[contact]']
  return ['other', '[message]']
}

type BaileysLogger = NonNullable<UserFacingSocketConfig['logger']>

/**
 * Baileys logs through a pino-like logger; this one forwards to ours at `warn` and above
 * (`debug` with DEBUG), with Baileys' structured object as fields.
 */
export function bridgeLogger(
  target: Logger,
  level: 'warn' | 'debug',
  bindings: Record<string, unknown> = {},
): BaileysLogger {
  const rank = { trace: 0, debug: 1, info: 2, warn: 3, error: 4 } as const
  const threshold = rank[level]
  const forward = (name: keyof typeof rank, to: keyof Logger) => (obj: unknown, msg?: string) => {
    if (rank[name] < threshold) return
    const fields =
      obj && typeof obj === 'object'
        ? { ...bindings, ...(obj as Record<string, unknown>) }
        : bindings
    const text = msg ?? (typeof obj === 'string' ? obj : 'baileys')
    target[to](`baileys: ${text}`, fields)
  }
  return {
    level,
    child: (more: Record<string, unknown>) => bridgeLogger(target, level, { ...bindings, ...more }),
    trace: forward('trace', 'debug'),
    debug: forward('debug', 'debug'),
    info: forward('info', 'info'),
    warn: forward('warn', 'warn'),
    error: forward('error', 'error'),
  } as BaileysLogger
}
