import type { EventEmitter } from 'node:events'
import {
  Browsers,
  DEFAULT_CONNECTION_CONFIG,
  DisconnectReason,
  getBinaryNodeChild,
  getBinaryNodeChildren,
  isLidUser,
  jidDecode,
  jidNormalizedUser,
  makeCacheableSignalKeyStore,
  makeWASocket,
  type BaileysEventMap,
  type BinaryNode,
  type ConnectionState,
  type Contact,
  type SignalKeyStore,
  type UserFacingSocketConfig,
  type WAMessage,
  type WASocket,
  type WAVersion,
} from '@whiskeysockets/baileys'
import type { Config } from '../config'
import { KeyedSerializer } from '../keyed-serializer'
import type { Logger } from '../logger'
import type { LinkedUser } from '../protocol'
import {
  isLinked,
  readLinkedCreds,
  useStoreAuthState,
  type StoreAuthState,
} from './baileys-auth-store'
import { createAccountCaches, type AccountCaches } from './baileys-caches'
import { DecryptFailureWatch, type DecryptPeer } from './baileys-decrypt'
import { SentMessages } from './baileys-message-store'
import {
  addressesInKey,
  completeAddresses,
  isIncoming,
  toIncoming,
  type AddressBook,
  type SenderAddresses,
} from './baileys-messages'
import { UPKEEP_EVERY_MS, upkeepCredentials } from './baileys-upkeep'
import {
  BAILEYS_VERSION_LOOKUPS,
  createVersionSource,
  type VersionLookups,
} from './baileys-version'
import { describeSilence, LivenessMonitor } from './liveness'
import {
  ProviderError,
  toJid,
  type LinkOptions,
  type ProviderContext,
  type ProviderSession,
  type WhatsAppProvider,
} from './provider'

/** The part of Baileys' socket we use. Typed from Baileys itself, so an API change fails tsc. */
export type BaileysSocket = Pick<
  WASocket,
  | 'ev'
  | 'user'
  | 'end'
  | 'logout'
  | 'requestPairingCode'
  | 'sendMessage'
  | 'authState'
  | 'signalRepository'
> & {
  /**
   * Baileys' websocket (a WebSocketClient, which is an EventEmitter): every decoded frame is
   * emitted as `frame` and each stanza as `CB:<tag>,...` (socket.js:440-465). `end()` removes its
   * own listeners, not ours (:481-483).
   */
  ws: WASocket['ws'] extends EventEmitter ? Pick<EventEmitter, 'on' | 'off'> : never
}
export type SocketFactory = (config: UserFacingSocketConfig) => BaileysSocket

export interface BaileysDependencies {
  /** `cfg => makeWASocket(cfg)` in production; tests pass a fake. */
  makeSocket?: SocketFactory
  /** WhatsApp Web version lookups (they need the network); tests pass stubs. */
  versionLookups?: VersionLookups
  /** Extra socket settings (tests point `waWebSocketUrl` at a closed port). */
  socketConfig?: Partial<UserFacingSocketConfig>
  backoff?: { initialMs: number; maxMs: number; stableMs: number }
  random?: () => number
  /** The clock for ages and windows (version lookups, upkeep, sent messages, caches, failures). */
  now?: () => number
}

const DEFAULT_BACKOFF = { initialMs: 1000, maxMs: 60_000, stableMs: 30_000 }

/**
 * How the provider presents itself on the phone (Linked devices: "Chrome (Ubuntu)"). Pairing codes
 * need a real OS and browser: the code request carries `companion_platform_id` from the browser
 * name, a name Baileys does not know becomes OTHER_WEB_CLIENT (companion-reg-client-utils.js:22-28,
 * socket.js:634-643), and WhatsApp has been reported to refuse codes for custom names (Baileys'
 * README documents custom names for QR links only).
 */
export const BROWSER = Browsers.ubuntu('Chrome')

/** Ending a socket waits at most this long for its close (a dead TCP path takes 30 s, ws' close timeout). */
const END_WAIT_MS = 2000
/** A lookup of a sender's other address waits at most this long. */
const LOOKUP_TIMEOUT_MS = 2000

export interface QrTiming {
  /** What to pass Baileys as `qrTimeout`: undefined keeps its 60 s / 20 s. */
  qrTimeout?: number
  /** How long the first QR of a connection lives, and each later one, as Baileys will do it. */
  firstMs: number
  laterMs: number
  /** False when QR_TTL_FIRST_MS/QR_TTL_MS cannot be honoured (so Baileys' defaults apply). */
  honoured: boolean
}

/**
 * Baileys decides how long each QR lives (socket.js:709,723): `qrTimeout` for every QR when set,
 * else 60 s for the first and 20 s for each later one. One value for all, or those two, are all it
 * can do: the hub passes QR_TTL_MS when both variables agree, and otherwise announces what Baileys
 * will really do.
 */
export function qrTiming(config: Pick<Config, 'qrTtlFirstMs' | 'qrTtlMs'>): QrTiming {
  const { qrTtlFirstMs, qrTtlMs } = config
  if (qrTtlFirstMs === qrTtlMs) {
    return { qrTimeout: qrTtlMs, firstMs: qrTtlMs, laterMs: qrTtlMs, honoured: true }
  }
  const honoured = qrTtlFirstMs === 60_000 && qrTtlMs === 20_000
  return { firstMs: 60_000, laterMs: 20_000, honoured }
}

interface Link {
  session: ProviderSession
  auth: StoreAuthState
  /** Baileys' key store over `auth`, with one cache per account (not per socket). */
  keys: SignalKeyStore
  caches: AccountCaches
  sent: SentMessages
  decrypt: DecryptFailureWatch
  liveness: LivenessMonitor
  logger: BaileysLogger
  socket?: BaileysSocket
  /** The WhatsApp Web version the current socket connected with. */
  version?: WAVersion
  /** The current socket closed, or we ended it: nothing it says counts any more. */
  socketDone: boolean
  /** Removes our listeners from the current socket's websocket. */
  detach?: () => void
  phoneNumber?: string
  pairingRequested: boolean
  /** While a pairing request is in flight Baileys mutates creds; those must not be saved. */
  pairingInFlight: boolean
  qr: {
    /** QRs announced in this link attempt, over all its connections. */
    shown: number
    /** QRs announced before the current connection's first. */
    before: number
    /** `<ref>`s WhatsApp sent the current connection: one QR each. */
    refs: number
    /** QRs of the current connection. */
    ofSocket: number
  }
  open: boolean
  failures: number
  reconnectTimer?: NodeJS.Timeout
  stableTimer?: NodeJS.Timeout
  /** A connection that does not open (or show a QR) in time is stuck. */
  openTimer?: NodeJS.Timeout
  /** Received messages go out in order, even when one waits for an address lookup. */
  inbox: Promise<void>
  inboxDepth: number
  upkeptAt: number
  usage?: { entries: number; bytes: number }
  /** We ended it (close, logout, shutdown, an ended link): its timers and sockets are done. */
  stopped: boolean
}

/**
 * Real WhatsApp through Baileys: one socket and one credential namespace per session, never two
 * sockets for one account. Maps Baileys' connection updates onto the hub's protocol (see
 * docs/protocol.md): QR codes, pairing codes, authenticated, transient drops with backoff, and
 * the reasons a link ends.
 */
export function createBaileysProvider(
  { config, logger, metrics }: ProviderContext,
  dependencies: BaileysDependencies = {},
): WhatsAppProvider {
  const makeSocket = dependencies.makeSocket ?? ((cfg: UserFacingSocketConfig) => makeWASocket(cfg))
  const backoff = dependencies.backoff ?? DEFAULT_BACKOFF
  const random = dependencies.random ?? Math.random
  const now = dependencies.now ?? Date.now
  const links = new Map<string, Link>()
  /** Per account, its lifecycle operations (start, reconnect, close): one at a time. */
  const operations = new KeyedSerializer()
  const timing = qrTiming(config)
  if (!timing.honoured) {
    logger.warn(
      'With WA_PROVIDER=baileys QR codes last 60 s then 20 s each, unless QR_TTL_FIRST_MS equals QR_TTL_MS',
      { qr_ttl_first_ms: config.qrTtlFirstMs, qr_ttl_ms: config.qrTtlMs },
    )
  }
  // WhatsApp answers keep-alive pings (socket.js:530-560), so a healthy connection shows frames
  // at least that often; the silence watch needs a few pings per window to mean anything.
  const keepAliveIntervalMs = Math.min(
    DEFAULT_CONNECTION_CONFIG.keepAliveIntervalMs,
    Math.max(1000, Math.floor(config.healthSilenceMs / 3)),
  )
  const versions = createVersionSource({
    lookups: dependencies.versionLookups ?? BAILEYS_VERSION_LOOKUPS,
    logger,
    onLookup: (result) => metrics?.versionLookup(result),
    now,
  })
  void versions.refresh()

  metrics?.observe({
    credentials() {
      let entries = 0
      let bytes = 0
      for (const link of links.values()) {
        entries += link.usage?.entries ?? 0
        bytes += link.usage?.bytes ?? 0
      }
      return { entries, bytes }
    },
    memory() {
      const sum = (read: (link: Link) => number) =>
        [...links.values()].reduce((total, link) => total + read(link), 0)
      return {
        msg_retry: sum((link) => link.caches.msgRetry.size),
        user_devices: sum((link) => link.caches.userDevices.size),
        call_offer: sum((link) => link.caches.callOffer.size),
        placeholder_resend: sum((link) => link.caches.placeholderResend.size),
        signal_keys: sum((link) => link.caches.signalKeys.size),
        decrypt_peers: sum((link) => link.decrypt.size),
        sent_messages: sum((link) => link.sent.size),
        inbox: sum((link) => link.inboxDepth),
        operations: operations.size,
      }
    },
  })

  const current = (link: Link) => !link.stopped && links.get(link.session.id) === link

  const createLink = (session: ProviderSession, auth: StoreAuthState, phoneNumber?: string) => {
    const caches = createAccountCaches(now)
    const link: Link = {
      session,
      auth,
      keys: makeCacheableSignalKeyStore(auth.state.keys, undefined, caches.signalKeys),
      caches,
      sent: new SentMessages(
        session.store,
        { max: config.sentMessagesMax, maxAgeMs: config.sentMessagesMaxAgeMs },
        logger,
        now,
      ),
      decrypt: new DecryptFailureWatch({
        sessionId: session.id,
        resetAfter: config.decryptFailuresReset,
        windowMs: config.decryptFailuresWindowMs,
        logger,
        onFailure: (reason) => metrics?.decryptFailure(reason),
        reset: (peer) => void resetPeerSessions(link, peer),
        now,
      }),
      liveness: new LivenessMonitor(config.healthSilenceMs, {
        degraded: (ms) => link.session.sink.health('degraded', describeSilence(ms)),
        recovered: () => link.session.sink.health('ok'),
        dead: (ms) => {
          retire(link)
          reconnect(link, { message: `${describeSilence(ms)}; the connection was dropped` })
        },
      }),
      logger: bridgeLogger(
        logger,
        config.debug ? 'debug' : 'warn',
        { session_id: session.id },
        (level, fields, message) => {
          if (level === 'error') link.decrypt.fromLog(fields, message)
        },
      ),
      socketDone: true,
      phoneNumber,
      pairingRequested: false,
      pairingInFlight: false,
      qr: { shown: 0, before: 0, refs: 0, ofSocket: 0 },
      open: false,
      failures: 0,
      inbox: Promise.resolve(),
      inboxDepth: 0,
      upkeptAt: 0,
      stopped: false,
    }
    return link
  }

  const connect = (link: Link) => {
    const { creds } = link.auth.state
    link.version = versions.current()
    const socket = makeSocket({
      auth: { creds, keys: link.keys },
      version: link.version,
      browser: BROWSER,
      logger: link.logger,
      // Both default to true (Defaults/index.js:62-63). A gateway keeps them off: a full history
      // sync (asked for once, at registration, validate-connection.js:86) is a large download and
      // a CPU and memory spike for messages the hub never reports; being "online" hides the
      // phone's notifications, shows the account online to contacts and sends active receipts
      // (chats.js:1061-1066, messages-recv.js:1662-1665).
      syncFullHistory: false,
      markOnlineOnConnect: false,
      ...(timing.qrTimeout === undefined ? {} : { qrTimeout: timing.qrTimeout }),
      keepAliveIntervalMs,
      getMessage: (key) => link.sent.get(key.id),
      msgRetryCounterCache: link.caches.msgRetry,
      userDevicesCache: link.caches.userDevices,
      callOfferCache: link.caches.callOffer,
      placeholderResendCache: link.caches.placeholderResend,
      ...dependencies.socketConfig,
    })
    link.socket = socket
    link.socketDone = false
    link.qr.ofSocket = 0
    const live = () => link.socket === socket && !link.socketDone && !link.stopped
    const onFrame = () => link.liveness.seen()
    // Runs before Baileys emits the first QR of the stanza: its own listener awaits an ack first
    // (socket.js:694-705). One QR per `<ref>`; WhatsApp decides how many.
    const onPairDevice = (stanza: BinaryNode) => {
      if (!live()) return
      clearTimeout(link.openTimer)
      link.qr.refs = getBinaryNodeChildren(getBinaryNodeChild(stanza, 'pair-device'), 'ref').length
      link.qr.before = link.qr.shown
    }
    socket.ws.on('frame', onFrame)
    socket.ws.on('CB:iq,type:set,pair-device', onPairDevice)
    link.detach = () => {
      socket.ws.off('frame', onFrame)
      socket.ws.off('CB:iq,type:set,pair-device', onPairDevice)
    }
    // Subscribe in the same tick: the socket starts emitting right away.
    socket.ev.on('creds.update', () => {
      if (link.pairingInFlight) return
      link.auth.saveCreds().catch((error: unknown) =>
        logger.error('Could not save WhatsApp credentials', {
          session_id: link.session.id,
          error,
        }),
      )
    })
    socket.ev.on('connection.update', (update) => {
      if (live()) onConnectionUpdate(link, socket, update)
    })
    socket.ev.on('messages.upsert', (upsert) => {
      if (live()) onMessages(link, socket, upsert)
    })
    // Baileys never times out a connection that completed its handshake but neither opens nor
    // shows a QR: its keep-alive pings keep it "alive" (socket.js:530-560).
    const linked = isLinked(creds)
    link.openTimer = setTimeout(() => {
      if (!live() || link.open) return
      retire(link)
      reconnect(link, {
        message: `WhatsApp did not ${linked ? 'open the connection' : 'send a QR code'} within ${seconds(config.healthSilenceMs)} s`,
      })
    }, config.healthSilenceMs)
    link.openTimer.unref()
  }

  const onConnectionUpdate = (
    link: Link,
    socket: BaileysSocket,
    update: Partial<ConnectionState>,
  ) => {
    if (update.qr) onQr(link, socket, update.qr)
    if (update.connection === 'open') {
      link.open = true
      clearTimeout(link.openTimer)
      link.liveness.start()
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
    if (update.connection === 'close') onClose(link, update.lastDisconnect?.error)
  }

  const onQr = (link: Link, socket: BaileysSocket, data: string) => {
    const { sink } = link.session
    if (link.phoneNumber && !isLinked(link.auth.state.creds)) {
      if (!link.pairingRequested) void requestPairingCode(link, socket, link.phoneNumber)
      return
    }
    // QR_MAX holds whatever number of refs WhatsApp sends: this QR would be one too many.
    if (link.qr.shown >= config.qrMax) {
      finish(link, () => sink.disconnected('qr_timeout'))
      return
    }
    const ttlMs = link.qr.ofSocket === 0 ? timing.firstMs : timing.laterMs
    link.qr.shown += 1
    link.qr.ofSocket += 1
    const attemptsMax = Math.max(
      link.qr.shown,
      Math.min(config.qrMax, link.qr.before + link.qr.refs),
    )
    sink.qr({ data, ttlMs, attempt: link.qr.shown, attemptsMax })
  }

  const onClose = (link: Link, error: Error | undefined) => {
    const { sink, id } = link.session
    const code = (error as { output?: { statusCode?: number } } | undefined)?.output?.statusCode
    const message = error?.message ?? 'connection closed'
    link.socketDone = true
    settleSocket(link)
    logger.debug('WhatsApp connection closed', { session_id: id, code, reason: message })
    switch (code) {
      case DisconnectReason.restartRequired:
        // Normal right after a scan: WhatsApp wants a fresh connection with the new credentials,
        // at once and without a drop to report (socket.js:791-796 after pair-success).
        scheduleConnect(link, 0)
        return
      case DisconnectReason.loggedOut:
        return finish(link, () => sink.disconnected('logged_out_remote', { code }))
      case DisconnectReason.connectionReplaced:
        // Another connection with these credentials took over; reconnecting would take it back,
        // and the two would replace each other in turn.
        return finish(link, () => sink.disconnected('replaced', { code }))
      case DisconnectReason.badSession:
      case DisconnectReason.forbidden:
      case DisconnectReason.multideviceMismatch:
        return finish(link, () => sink.disconnected('failed', { code, message }))
      case 405: {
        // A server `<failure reason="405">`: this client version is too old (socket.js:798-801).
        const refused = link.version?.join('.')
        return reconnect(
          link,
          {
            code,
            message: `WhatsApp refused the client version ${refused} as outdated; looking up the current version before reconnecting`,
          },
          { refreshVersion: true },
        )
      }
    }
    if (!isLinked(link.auth.state.creds) && /QR refs attempts ended/i.test(message)) {
      return finish(link, () => sink.disconnected('qr_timeout', { code }))
    }
    // 428, 408, 503, a plain Error without a status: a drop, not the end of the link.
    reconnect(link, { code, message })
  }

  /** Reports a drop and reconnects after the backoff. */
  const reconnect = (
    link: Link,
    detail: { code?: number; message: string },
    options: { refreshVersion?: boolean } = {},
  ) => {
    const retryInMs = reconnectDelay(link.failures, backoff, random)
    link.failures += 1
    link.session.sink.reconnecting(true, { ...detail, retryInMs })
    logger.info('WhatsApp connection lost; reconnecting', {
      session_id: link.session.id,
      code: detail.code,
      reason: detail.message,
      in_ms: retryInMs,
    })
    scheduleConnect(link, retryInMs, options)
  }

  const scheduleConnect = (
    link: Link,
    inMs: number,
    options: { refreshVersion?: boolean } = {},
  ) => {
    clearTimeout(link.reconnectTimer)
    link.reconnectTimer = setTimeout(() => {
      link.reconnectTimer = undefined
      operations
        .run(link.session.id, async () => {
          if (!current(link) || !link.socketDone) return
          if (options.refreshVersion) await versions.refresh()
          await beforeReconnect(link)
          if (current(link) && link.socketDone) connect(link)
        })
        .catch((error: unknown) =>
          logger.error('Could not reconnect to WhatsApp', { session_id: link.session.id, error }),
        )
    }, inMs)
    link.reconnectTimer.unref()
  }

  /**
   * Between two sockets of an account: a verified backup of linked creds, the credential store's
   * upkeep when due; and an unfinished pairing starts over, since its creds (`me` set, never
   * registered) would make Baileys log in instead of registering (socket.js:320-327).
   */
  const beforeReconnect = async (link: Link) => {
    const { creds } = link.auth.state
    const id = link.session.id
    if (!isLinked(creds)) {
      if (!creds.me) return
      link.pairingRequested = false
      await link.auth.resetCreds().catch((error: unknown) => {
        logger.error('Could not reset abandoned pairing credentials', { session_id: id, error })
      })
      return
    }
    const backedUp = await link.auth.backupCreds().catch((error: unknown) => {
      logger.warn('Could not back up the WhatsApp credentials', { session_id: id, error })
      return false
    })
    if (!backedUp)
      logger.warn('The WhatsApp credentials backup was not verified', { session_id: id })
    if (now() - link.upkeptAt >= UPKEEP_EVERY_MS) await upkeep(link)
  }

  const upkeep = async (link: Link) => {
    link.upkeptAt = now()
    try {
      const result = await upkeepCredentials({
        store: link.session.store,
        keys: link.keys,
        creds: link.auth.state.creds,
        now: link.upkeptAt,
      })
      link.usage = { entries: result.entries, bytes: result.bytes }
      if (result.pruned.preKeys > 0) metrics?.credentialsPruned('pre-key', result.pruned.preKeys)
      if (result.pruned.tcTokens > 0) metrics?.credentialsPruned('tctoken', result.pruned.tcTokens)
      logger.info('WhatsApp credential store', {
        session_id: link.session.id,
        entries: result.entries,
        bytes: result.bytes,
        pruned_pre_keys: result.pruned.preKeys,
        pruned_tc_tokens: result.pruned.tcTokens,
      })
    } catch (error) {
      logger.warn('Could not tidy the WhatsApp credential store', {
        session_id: link.session.id,
        error,
      })
    }
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
      // The code is good while the connection's QR rotation runs (nothing stops it during a
      // pairing, socket.js:709-725): once the refs are used up the connection ends.
      const refs = Math.max(1, link.qr.refs)
      link.session.sink.pairingCode(code, timing.firstMs + (refs - 1) * timing.laterMs)
    } catch (error) {
      link.pairingInFlight = false
      // The connection dropped under the request: the reconnect asks again, with fresh creds.
      if (link.socket !== socket || link.socketDone || link.stopped) return
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

  const onMessages = (
    link: Link,
    socket: BaileysSocket,
    upsert: BaileysEventMap['messages.upsert'],
  ) => {
    for (const message of upsert.messages) {
      // Failure stubs come as `notify` or `append` (messages-recv.js:1431-1432): all are counted.
      if (link.decrypt.fromUpsert(message)) continue
      if (upsert.type === 'notify' && isIncoming(message)) deliver(link, socket, message)
    }
  }

  /**
   * Reports a message with both of its sender's addresses when they are known: from the key, else
   * from the LID mapping (a local read, in parallel), still in the order received.
   */
  const deliver = (link: Link, socket: BaileysSocket, message: WAMessage) => {
    const known = addressesInKey(message.key)
    const lookUp =
      Boolean(known.pn) !== Boolean(known.lid) && link.inboxDepth < config.inboxLookupsMax
    link.inboxDepth += 1
    const sender: Promise<SenderAddresses> = lookUp
      ? withTimeout(completeAddresses(known, addressBook(socket)), LOOKUP_TIMEOUT_MS).then(
          (found) => found ?? known,
          () => known,
        )
      : Promise.resolve(known)
    link.inbox = link.inbox
      .then(async () => {
        const addresses = await sender
        link.inboxDepth -= 1
        const incoming = toIncoming(message, addresses)
        if (incoming && !link.stopped) link.session.sink.message(incoming)
      })
      // One message that cannot be read must not stop the ones after it.
      .catch((error: unknown) =>
        logger.warn('Could not report an incoming message', { session_id: link.session.id, error }),
      )
  }

  /**
   * Drops every encryption session with a peer whose messages keep failing to decrypt, so the
   * next message renegotiates one (messages-send.js:296-341; a peer's next message gets a retry
   * receipt carrying our keys, messages-recv.js:387-516). Sessions live under the peer's LID
   * when Baileys knows it (libsignal.js:329-344) and under its phone number before that, one per
   * device (`<user>[_1].<device>`): both forms, every device the store lists (`device-list`) or
   * the failures came from. Through Baileys' repository and key store, so its cache sees it
   * (`deleteSession` maps each JID as given, libsignal.js:186-199).
   */
  const resetPeerSessions = async (link: Link, peer: DecryptPeer) => {
    const socket = link.socket
    if (!socket || link.socketDone) return
    try {
      const known: SenderAddresses = isLidUser(peer.jid) ? { lid: peer.jid } : { pn: peer.jid }
      const { pn, lid } = await completeAddresses(known, addressBook(socket))
      const users = [pn, lid].flatMap((jid) => (jid ? [jidDecode(jid)?.user ?? ''] : []))
      const lists = await socket.authState.keys.get('device-list', users.filter(Boolean))
      const devices = new Set(['0', ...peer.devices, ...Object.values(lists).flat()])
      const jids: string[] = []
      for (const device of devices) {
        const suffix = device === '0' ? '' : `:${device}`
        if (pn) jids.push(`${jidDecode(pn)?.user}${suffix}@s.whatsapp.net`)
        if (lid) jids.push(`${jidDecode(lid)?.user}${suffix}@lid`)
      }
      await socket.signalRepository.deleteSession(jids)
      metrics?.peerSessionsReset()
      logger.warn(
        'Dropped the encryption sessions with a peer after repeated decryption failures',
        {
          session_id: link.session.id,
          sessions: jids.length,
        },
      )
    } catch (error) {
      logger.warn('Could not drop the encryption sessions with a peer', {
        session_id: link.session.id,
        error,
      })
    }
  }

  /** Stops a link for good and reports why. */
  const finish = (link: Link, report: () => void) => {
    void stop(link)
    report()
  }

  /** Our listeners off the current socket, its watches stopped: it counts no more. */
  const settleSocket = (link: Link) => {
    link.open = false
    link.detach?.()
    link.detach = undefined
    link.liveness.stop()
    clearTimeout(link.openTimer)
    clearTimeout(link.stableTimer)
  }

  /**
   * Ends the current socket, if it still lives; resolves when it closed or after END_WAIT_MS.
   * Its own close update is ignored from now on.
   */
  const retire = (link: Link): Promise<void> => {
    const socket = link.socket
    if (!socket || link.socketDone) return Promise.resolve()
    link.socketDone = true
    settleSocket(link)
    return withTimeout(socket.end(undefined), END_WAIT_MS).then(
      () => undefined,
      () => undefined,
    )
  }

  /** From now on the link's timers are cancelled, its socket ended, its memory released. */
  const stop = (link: Link): Promise<void> => {
    link.stopped = true
    clearTimeout(link.reconnectTimer)
    if (links.get(link.session.id) === link) links.delete(link.session.id)
    const ended = retire(link)
    settleSocket(link)
    link.decrypt.dispose()
    for (const cache of Object.values(link.caches)) cache.flushAll()
    return ended
  }

  /** Stops a link and waits for its socket's end and its pending writes. */
  const stopAndFlush = async (link: Link) => {
    await stop(link)
    await link.auth.flush()
  }

  const start = (session: ProviderSession, options: LinkOptions & { resume?: boolean }) =>
    operations.run(session.id, async () => {
      const previous = links.get(session.id)
      if (
        options.resume &&
        previous &&
        previous.session.store === session.store &&
        isLinked(previous.auth.state.creds)
      ) {
        // Already connected or connecting with these very credentials: keep that socket.
        previous.session = session
        if (previous.open && previous.socket?.user) {
          void announce(previous, linkedUser(previous.socket.user))
        } else session.sink.reconnecting(true)
        return
      }
      if (previous) await stopAndFlush(previous)
      const auth = await useStoreAuthState(session.store, logger, { fresh: !options.resume })
      if (options.resume && !isLinked(auth.state.creds)) {
        session.sink.disconnected('failed', { message: 'stored WhatsApp credentials are missing' })
        return
      }
      const link = createLink(session, auth, options.phoneNumber)
      links.set(session.id, link)
      if (options.resume) {
        // Until WhatsApp confirms the stored link, a resumed session is "reconnecting".
        session.sink.reconnecting(true)
        await beforeReconnect(link)
        if (!current(link)) return
      }
      connect(link)
    })

  const close = (sessionId: string) =>
    operations.run(sessionId, async () => {
      const link = links.get(sessionId)
      if (link) await stopAndFlush(link)
    })

  return {
    name: 'baileys',
    supportsPairingCode: true,

    link: (session, options) => start(session, options),
    resume: (session) => start(session, { resume: true }),

    async inspect(credentials) {
      const creds = await readLinkedCreds(credentials)
      return creds?.me ? linkedUser(creds.me) : undefined
    },

    logout: (sessionId) =>
      operations.run(sessionId, async () => {
        const link = links.get(sessionId)
        if (!link) return
        const { socket, open } = link
        link.stopped = true
        try {
          // logout() needs a live connection (it sends remove-companion-device, socket.js:572-595).
          if (!open || !socket) throw new Error('not connected')
          await socket.logout()
        } catch (error) {
          logger.debug('WhatsApp did not hear the logout; ending the connection', {
            session_id: sessionId,
            error,
          })
        } finally {
          await stopAndFlush(link)
        }
      }),

    close,

    async sendMessage(sessionId, to, text) {
      const link = links.get(sessionId)
      const socket = link?.socket
      if (!link?.open || !socket) {
        throw new ProviderError(
          'the WhatsApp connection is not open right now; try again once it is back',
          'not_authenticated',
        )
      }
      let sent: Awaited<ReturnType<BaileysSocket['sendMessage']>>
      try {
        sent = await socket.sendMessage(toJid(to), { text })
      } catch (error) {
        throw sendError(error, logger, sessionId)
      }
      const id = sent?.key.id
      if (!id || !sent?.message) throw new ProviderError('WhatsApp did not confirm the message')
      await link.sent.remember(id, sent.message)
      return { messageId: id }
    },

    async shutdown() {
      await Promise.all([...new Set([...links.keys(), ...operations.keys()])].map(close))
    },
  }
}

/** Baileys' local LID mapping for a socket: never a network query. */
function addressBook(socket: BaileysSocket): AddressBook {
  return {
    async pnForLid(lid) {
      // Local only; answers `<pn>:<device>@s.whatsapp.net` (lid-mapping.js:224-233).
      const pn = await socket.signalRepository.lidMapping.getPNForLID(lid)
      return pn ? jidNormalizedUser(pn) : undefined
    },
    async lidForPn(pn) {
      // The mapping's own getLIDForPN asks WhatsApp on a miss (lid-mapping.js:173-196); the
      // stored mapping (`<pnUser>` → `<lidUser>`, lid-mapping.js:74-76) is read directly instead.
      const user = jidDecode(pn)?.user
      if (!user) return undefined
      const { [user]: lidUser } = await socket.authState.keys.get('lid-mapping', [user])
      return lidUser ? `${lidUser}@lid` : undefined
    },
  }
}

/**
 * What a failed send becomes: the connection closing under it (Baileys' 428 'Connection Closed'
 * when the socket is not open, socket.js:58-61, or 408 when it was lost) means "try again once it
 * is back"; anything else is WhatsApp (or Baileys) refusing the message.
 */
function sendError(error: unknown, logger: Logger, sessionId: string): ProviderError {
  const code = (error as { output?: { statusCode?: number } } | undefined)?.output?.statusCode
  if (code === DisconnectReason.connectionClosed || code === DisconnectReason.connectionLost) {
    return new ProviderError(
      'the WhatsApp connection dropped before the message went out; try again once it is back',
      'not_authenticated',
    )
  }
  logger.error('WhatsApp did not accept a message', { session_id: sessionId, error })
  return new ProviderError('WhatsApp did not accept the message')
}

function linkedUser(me: Contact): LinkedUser {
  const jid = jidNormalizedUser(me.id)
  return { id: jid, name: me.name ?? me.notify ?? me.verifiedName ?? `+${jid.split('@')[0]}` }
}

/** "90", or "0.2" below ten seconds. */
function seconds(ms: number): string {
  return ms < 10_000 ? (ms / 1000).toFixed(1) : String(Math.round(ms / 1000))
}

/** `promise`, or undefined once `ms` have passed. */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms)
    timer.unref()
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
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

type BaileysLogger = NonNullable<UserFacingSocketConfig['logger']>
type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error'

/**
 * Baileys logs through a pino-like logger; this one forwards to ours at `warn` and above
 * (`debug` with DEBUG), with Baileys' structured object as fields. `tap` sees every call, at
 * every level, before the filter (decryption failures are counted from Baileys' logs).
 */
export function bridgeLogger(
  target: Logger,
  level: 'warn' | 'debug',
  bindings: Record<string, unknown> = {},
  tap?: (level: LogLevel, fields: unknown, message: string | undefined) => void,
): BaileysLogger {
  const rank = { trace: 0, debug: 1, info: 2, warn: 3, error: 4 } as const
  const threshold = rank[level]
  const forward = (name: LogLevel, to: keyof Logger) => (obj: unknown, msg?: string) => {
    tap?.(name, obj, msg)
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
    child: (more: Record<string, unknown>) =>
      bridgeLogger(target, level, { ...bindings, ...more }, tap),
    trace: forward('trace', 'debug'),
    debug: forward('debug', 'debug'),
    info: forward('info', 'info'),
    warn: forward('warn', 'warn'),
    error: forward('error', 'error'),
  } as BaileysLogger
}
