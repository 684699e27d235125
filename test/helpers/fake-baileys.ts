import { EventEmitter } from 'node:events'
import { Boom } from '@hapi/boom'
import {
  addTransactionCapability,
  buildPairingQRData,
  DEFAULT_CONNECTION_CONFIG,
  DisconnectReason,
  makeEventBuffer,
  proto,
  type AnyMessageContent,
  type AuthenticationCreds,
  type BinaryNode,
  type CacheStore,
  type Contact,
  type UserFacingSocketConfig,
  type WAMessage,
  type WAMessageKey,
} from '@whiskeysockets/baileys'
import type { Socket } from 'socket.io-client'
import { onTestFinished } from 'vitest'
import { loadConfig } from '../../server/config'
import type { LogEntry } from '../../server/logger'
import type { ProviderGauges, ProviderMetrics } from '../../server/metrics'
import {
  createBaileysProvider,
  type BaileysDependencies,
  type BaileysSocket,
  type SocketFactory,
} from '../../server/providers/baileys'
import type { VersionLookups } from '../../server/providers/baileys-version'
import type {
  ProviderSession,
  SessionSink,
  WhatsAppProvider,
} from '../../server/providers/provider'
import type { AuthenticatedEvent } from '../../server/protocol'
import { until } from '../main/launch'
import { nextEvent, startTestHub } from './hub'
import { MemoryNamespace } from './memory-store'
import { recordingLogger } from './logger'

const quiet = {
  level: 'silent',
  child: () => quiet,
  trace: () => {},
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
}

/** Baileys makes a NodeCache per socket for a cache it is not given; this stands in for it. */
class SocketCache implements CacheStore {
  private readonly map = new Map<string, unknown>()
  get<T>(key: string) {
    return this.map.get(key) as T | undefined
  }
  set<T>(key: string, value: T) {
    this.map.set(key, value)
  }
  del(key: string) {
    this.map.delete(key)
  }
  flushAll() {
    this.map.clear()
  }
}

/** What WhatsApp's server sends for a `pair-device` iq: one `<ref>` per QR (socket.js:694-705). */
export function pairDeviceStanza(refs: string[]): BinaryNode {
  return {
    tag: 'iq',
    attrs: { from: 's.whatsapp.net', type: 'set', id: 'pair-1' },
    content: [
      {
        tag: 'pair-device',
        attrs: {},
        content: refs.map((ref) => ({ tag: 'ref', attrs: {}, content: Buffer.from(ref) })),
      },
    ],
  }
}

/**
 * Behaves like Baileys' socket where the provider can see it, with Baileys' own parts where they
 * exist: events through Baileys' event buffer, the key store wrapped by Baileys'
 * addTransactionCapability and the signal repository Baileys makes (socket.js:270-271), so LID
 * mappings and session deletion run Baileys' code. `connecting` on the next tick; `end()` is
 * idempotent, marks the socket closed at once and emits `close` with `lastDisconnect` after an
 * await (socket.js:472-508); `logout()` refusing when not connected; `requestPairingCode()`
 * mutating creds (and emitting `creds.update`) even when it fails; QR rotation on Baileys' timers.
 * Drivers play WhatsApp's side.
 */
export class FakeWASocket implements BaileysSocket {
  readonly ev = makeEventBuffer(quiet)
  /** Baileys' websocket is an EventEmitter re-emitting frames and stanzas (socket.js:440-465). */
  readonly ws = new EventEmitter()
  readonly authState: BaileysSocket['authState']
  readonly signalRepository: BaileysSocket['signalRepository']
  readonly sent: { jid: string; content: AnyMessageContent }[] = []
  /** Messages re-sent after a peer's retry receipt. */
  readonly resent: { jid: string; id: string; message: proto.IMessage }[] = []
  /** QR strings emitted, in order. */
  readonly qrs: string[] = []
  ended = false
  endedWith: Error | undefined
  logoutCalls = 0
  /** When set, `logout()` fails with it even while connected (WhatsApp did not answer). */
  logoutFails: Error | undefined
  /** When set, `sendMessage()` fails with it. */
  sendFails: Error | undefined
  pairingWorks = true
  private me: Contact | undefined
  /** The websocket is open (Baileys can send stanzas). */
  private wsOpen = false
  /** Logged in (`CB:success`): `connection: 'open'` was emitted. */
  private loggedIn = false
  private qrTimer: NodeJS.Timeout | undefined
  /** The current QR rotation's next step. */
  private rotate?: () => void
  /** Baileys' MessageRetryManager: recent sends of this socket only (messages-send.js:879-880). */
  private readonly recent = new Map<string, proto.IMessage>()
  private readonly msgRetryCache: CacheStore
  private readonly logger: NonNullable<UserFacingSocketConfig['logger']>

  constructor(readonly config: UserFacingSocketConfig) {
    this.logger = config.logger ?? quiet
    const keys = addTransactionCapability(
      config.auth.keys,
      this.logger,
      DEFAULT_CONNECTION_CONFIG.transactionOpts,
    )
    this.authState = { creds: config.auth.creds, keys }
    this.signalRepository = DEFAULT_CONNECTION_CONFIG.makeSignalRepository(
      { creds: config.auth.creds, keys },
      this.logger,
      async () => [],
    )
    this.msgRetryCache = config.msgRetryCounterCache ?? new SocketCache()
    setImmediate(() => {
      if (!this.ended) this.ev.emit('connection.update', { connection: 'connecting' })
    })
  }

  get user(): Contact | undefined {
    return this.me
  }

  /** Not ended: what "live socket" means for one-socket-per-account. */
  get live(): boolean {
    return !this.ended
  }

  async end(error: Error | undefined): Promise<void> {
    if (this.ended) return
    this.ended = true
    this.endedWith = error
    this.wsOpen = false
    this.loggedIn = false
    clearTimeout(this.qrTimer)
    this.signalRepository.close?.()
    this.recent.clear()
    await Promise.resolve() // await ws.close() and the end handlers
    this.ev.emit('connection.update', {
      connection: 'close',
      lastDisconnect: { error, date: new Date() },
    })
    this.ev.removeAllListeners('connection.update')
    this.ev.destroy()
  }

  async logout(): Promise<void> {
    this.logoutCalls += 1
    if (!this.wsOpen)
      throw new Boom('Connection Closed', { statusCode: DisconnectReason.connectionClosed })
    if (this.logoutFails) throw this.logoutFails
    void this.end(new Boom('Intentional Logout', { statusCode: DisconnectReason.loggedOut }))
  }

  async requestPairingCode(phoneNumber: string): Promise<string> {
    const creds = this.config.auth.creds
    creds.pairingCode = 'PAIRCODE'
    creds.me = { id: `${phoneNumber}@s.whatsapp.net`, name: '~' }
    this.ev.emit('creds.update', creds)
    if (!this.wsOpen || !this.pairingWorks) {
      throw new Boom('Connection Closed', { statusCode: DisconnectReason.connectionClosed })
    }
    return 'ABCD2345'
  }

  async sendMessage(jid: string, content: AnyMessageContent): Promise<WAMessage | undefined> {
    if (!this.wsOpen)
      throw new Boom('Connection Closed', { statusCode: DisconnectReason.connectionClosed })
    if (this.sendFails) throw this.sendFails
    this.sent.push({ jid, content })
    const id = `OUT${this.sent.length}`
    // generateWAMessageContent turns text into an extendedTextMessage (Utils/messages.js:305).
    const message = proto.Message.fromObject({
      extendedTextMessage: { text: (content as { text: string }).text },
    })
    this.recent.set(`${jid}:${id}`, message)
    return { key: { id, remoteJid: jid, fromMe: true }, message } as WAMessage
  }

  // ---- WhatsApp's side -------------------------------------------------------------------------

  /** A frame from WhatsApp (every decoded frame is emitted as `frame`, socket.js:444-446). */
  frame(): void {
    this.ws.emit('frame', { tag: 'iq', attrs: { type: 'result' } })
  }

  /**
   * WhatsApp's `pair-device` iq: the stanza reaches `CB:` listeners, then (after Baileys acks it)
   * one QR per ref, rotated on Baileys' timers: `qrTimeout` for each, or 60 s then 20 s; when the
   * refs run out, `end(408 'QR refs attempts ended')` (socket.js:694-726).
   */
  pairDevice(refs: string[] = ['ref-1', 'ref-2', 'ref-3', 'ref-4', 'ref-5', 'ref-6']): void {
    this.wsOpen = true
    this.frame()
    this.ws.emit('CB:iq,type:set,pair-device', pairDeviceStanza(refs))
    const left = [...refs]
    const { qrTimeout } = this.config
    let qrMs = qrTimeout || 60_000
    const creds = this.config.auth.creds
    const genPairQR = () => {
      if (!this.wsOpen) return
      const ref = left.shift()
      if (!ref) {
        void this.end(new Boom('QR refs attempts ended', { statusCode: DisconnectReason.timedOut }))
        return
      }
      const qr = buildPairingQRData(
        ref,
        Buffer.from(creds.noiseKey.public).toString('base64'),
        Buffer.from(creds.signedIdentityKey.public).toString('base64'),
        creds.advSecretKey,
        this.config.browser ?? DEFAULT_CONNECTION_CONFIG.browser,
      )
      this.qrs.push(qr)
      this.ev.emit('connection.update', { qr })
      this.qrTimer = setTimeout(genPairQR, qrMs)
      qrMs = qrTimeout || 20_000
    }
    this.rotate = genPairQR
    void Promise.resolve().then(genPairQR) // Baileys awaits sendNode(ack) first
  }

  /** The QR timer fires now (instead of after the QR's lifetime). */
  nextQr(): void {
    clearTimeout(this.qrTimer)
    this.rotate?.()
  }

  /**
   * The phone scanned the QR (or entered the pairing code): WhatsApp sends `pair-success`, which
   * Baileys turns into a creds update with the signed device identity (`account`), `me` and the
   * platform (`configureSuccessfulPairing`), then asks for a restart (515). Baileys never sets
   * `registered` on this path.
   */
  scanned(me: Contact = { id: '34600111222:7@s.whatsapp.net', name: 'Ana' }): void {
    this.updateCreds({
      me: { ...me, lid: '99887766554433:7@lid' },
      account: {
        details: Buffer.from('device-details'),
        accountSignatureKey: Buffer.alloc(32, 1),
        accountSignature: Buffer.alloc(64, 2),
        deviceSignature: Buffer.alloc(64, 3),
      },
      platform: 'android',
    })
    this.ev.emit('connection.update', { isNewLogin: true, qr: undefined })
    void this.end(
      new Boom('Stream Errored (restart required)', {
        statusCode: DisconnectReason.restartRequired,
      }),
    )
  }

  /** The phone entered the pairing code: Baileys marks the creds registered, then pair-success. */
  pairingEntered(): void {
    this.updateCreds({ registered: true })
    this.scanned()
  }

  /** Baileys' own `creds.update` listener assigns the update into the creds, then ours run. */
  private updateCreds(update: Partial<AuthenticationCreds>): void {
    Object.assign(this.config.auth.creds, update)
    this.ev.emit('creds.update', update)
  }

  /** `CB:success`: logged in; the QR timer is cleared (socket.js:746-765). */
  open(user: Contact = { id: '34600111222:7@s.whatsapp.net', name: 'Ana' }): void {
    this.wsOpen = true
    this.loggedIn = true
    clearTimeout(this.qrTimer)
    this.me = user
    this.frame()
    this.ev.emit('connection.update', { connection: 'open', isNewLogin: false })
  }

  get isLoggedIn(): boolean {
    return this.loggedIn
  }

  /** The connection drops with a status code (a Boom), or with a plain Error when `code` is null. */
  drop(code: number | null, message = 'Connection Failure'): void {
    void this.end(code === null ? new Error(message) : new Boom(message, { statusCode: code }))
  }

  receive(messages: WAMessage[], type: 'notify' | 'append' = 'notify'): void {
    this.frame()
    this.ev.emit('messages.upsert', { messages, type })
  }

  /**
   * A message that does not decrypt, as Baileys reports it: `error` 'failed to decrypt message' on
   * its logger (decode-wa-message.js:287-299), then the CIPHERTEXT stub upserted with the error
   * text as its first stub parameter (messages-recv.js:1293-1432).
   */
  undecryptable(options: {
    id: string
    /** The sender's device JID (`author`). */
    author: string
    /** The chat; a group for group messages. */
    chat?: string
    error: string
  }): void {
    const chat = options.chat ?? options.author.replace(/:\d+@/, '@')
    const group = chat.endsWith('@g.us')
    const key: WAMessageKey = {
      remoteJid: chat,
      fromMe: false,
      id: options.id,
      ...(group ? { participant: options.author } : {}),
    }
    const err = new Error(options.error)
    this.frame()
    this.logger.error(
      {
        key,
        err,
        messageType: group ? 'skmsg' : 'msg',
        sender: group ? chat : options.author,
        author: options.author,
        isSessionRecordError: options.error.includes('No session record'),
      },
      'failed to decrypt message',
    )
    this.ev.emit('messages.upsert', {
      messages: [
        {
          key,
          messageTimestamp: 1_760_000_000,
          messageStubType: proto.WebMessageInfo.StubType.CIPHERTEXT,
          messageStubParameters: [options.error],
        } as WAMessage,
      ],
      type: 'notify',
    })
  }

  /**
   * A peer's retry receipt for a message we sent, handled as Baileys' handleReceipt and
   * sendMessagesAgain do (messages-recv.js:1040-1069, :1142-1157, :1205-1221): the count for
   * `${id}:${participant}` in msgRetryCounterCache (its own per-socket one unless given) caps
   * resends at maxMsgRetryCount; the message comes from this socket's recent sends, else from
   * `getMessage`; nothing is re-sent when neither has it.
   */
  async retryReceipt(options: { id: string; remoteJid: string; participant?: string }) {
    const participant = options.participant ?? options.remoteJid
    const max = this.config.maxMsgRetryCount ?? DEFAULT_CONNECTION_CONFIG.maxMsgRetryCount
    const counter = `${options.id}:${participant}`
    const count = async () => Number((await this.msgRetryCache.get<number>(counter)) ?? 0)
    const bump = async () => this.msgRetryCache.set(counter, (await count()) + 1)
    if ((await count()) >= max) return
    await bump()
    const key = { remoteJid: options.remoteJid, fromMe: true, participant, id: options.id }
    const message =
      this.recent.get(`${options.remoteJid}:${options.id}`) ??
      (await (this.config.getMessage ?? DEFAULT_CONNECTION_CONFIG.getMessage)(key))
    if (message && (await count()) < max) {
      await bump()
      this.resent.push({ jid: options.remoteJid, id: options.id, message })
    }
  }
}

/** Version lookups that answer at once, without the network. */
export const STUB_VERSIONS: VersionLookups = {
  waWeb: async () => ({ version: [2, 3000, 1], isLatest: true }),
  baileys: async () => ({ version: [2, 3000, 1], isLatest: true }),
}

export function fakeBaileys() {
  const sockets: FakeWASocket[] = []
  /** The most sockets live at once, measured at every socket's creation. */
  let maxLive = 0
  const makeSocket: SocketFactory = (config) => {
    const socket = new FakeWASocket(config)
    sockets.push(socket)
    maxLive = Math.max(maxLive, sockets.filter((s) => s.live).length)
    return socket
  }
  return {
    makeSocket,
    sockets,
    last: () => sockets.at(-1)!,
    live: () => sockets.filter((s) => s.live),
    maxLive: () => maxLive,
  }
}

export function textMessage(
  from: string,
  text: string,
  extra: Partial<WAMessage['key']> = {},
): WAMessage {
  return {
    key: { remoteJid: from, fromMe: false, id: `IN-${text}`, ...extra },
    message: { conversation: text },
    messageTimestamp: 1_760_000_000,
  } as WAMessage
}

/** A SessionSink that records every call, `health` included. */
export function recordingSink() {
  const calls: { method: keyof SessionSink; args: unknown[] }[] = []
  const record =
    (method: keyof SessionSink) =>
    (...args: unknown[]) => {
      calls.push({ method, args })
    }
  const sink: SessionSink = {
    qr: record('qr'),
    pairingCode: record('pairingCode'),
    authenticated: async (...args) => record('authenticated')(...args),
    reconnecting: record('reconnecting'),
    health: record('health'),
    disconnected: record('disconnected'),
    message: record('message'),
  }
  const of = <M extends keyof SessionSink>(method: M) =>
    calls
      .filter((call) => call.method === method)
      .map((call) => call.args as Parameters<SessionSink[M]>)
  return { sink, calls, of }
}

/** What the provider counted, by metric. */
export function recordingMetrics() {
  const counts: Record<string, number> = {}
  let gauges: ProviderGauges | undefined
  const bump = (name: string, by = 1) => {
    counts[name] = (counts[name] ?? 0) + by
  }
  const metrics: ProviderMetrics = {
    decryptFailure: (reason) => bump(`decrypt:${reason}`),
    peerSessionsReset: () => bump('reset'),
    versionLookup: (result) => bump(`version:${result}`),
    credentialsPruned: (type, count) => bump(`pruned:${type}`, count),
    observe(read) {
      gauges = read
    },
  }
  return { metrics, counts, gauges: () => gauges! }
}

/**
 * A Baileys provider over fake sockets, outside a hub: one account's namespace in memory, a
 * recording sink, logger and metrics. Backoff is short and without jitter.
 */
export function directProvider(
  env: Record<string, string> = {},
  dependencies: Partial<BaileysDependencies> = {},
) {
  const fake = fakeBaileys()
  const log = recordingLogger()
  const counted = recordingMetrics()
  const config = loadConfig({ WA_PROVIDER: 'baileys', ...env })
  const provider = createBaileysProvider(
    { config, logger: log.logger, metrics: counted.metrics },
    {
      makeSocket: fake.makeSocket,
      versionLookups: STUB_VERSIONS,
      backoff: { initialMs: 10, maxMs: 40, stableMs: 1000 },
      random: () => 1,
      ...dependencies,
    },
  )
  const store = new MemoryNamespace()
  const recorder = recordingSink()
  const session = { id: 'acct', store, sink: recorder.sink }
  return { provider, fake, config, store, session, ...recorder, log, counted }
}

/**
 * Starts linking `session` and scans its first QR the way a real phone does (QR, scan, 515):
 * resolves with the socket Baileys reopens, not open yet.
 */
export async function scanPhone(
  provider: WhatsAppProvider,
  fake: ReturnType<typeof fakeBaileys>,
  session: ProviderSession,
): Promise<FakeWASocket> {
  const before = fake.sockets.length
  await provider.link(session, {})
  await until(() => fake.sockets.length === before + 1)
  const first = fake.last()
  first.pairDevice()
  await until(() => first.qrs.length === 1)
  first.scanned()
  await until(() => fake.sockets.length === before + 2)
  return fake.last()
}

/** Links `session` the way a real phone does (QR, scan, 515, reopen); resolves once announced. */
export async function linkPhone(
  provider: WhatsAppProvider,
  fake: ReturnType<typeof fakeBaileys>,
  session: ProviderSession,
  calls: { method: keyof SessionSink }[],
): Promise<FakeWASocket> {
  const announced = calls.filter((call) => call.method === 'authenticated').length
  const reopened = await scanPhone(provider, fake, session)
  reopened.open()
  await until(() => calls.filter((call) => call.method === 'authenticated').length > announced)
  return reopened
}

/**
 * A real hub whose Baileys provider talks to fake sockets (closed, data removed, when the test
 * ends). `linkVia(id, client?)` links session `id` the way a real phone does (QR, scan, 515,
 * reopen), asked by `client` or a new one.
 */
export async function startBaileysHub(
  env: Record<string, string> = {},
  options: { dataDir?: string; dependencies?: Partial<BaileysDependencies> } = {},
) {
  const fake = fakeBaileys()
  const t = await startTestHub(
    { WA_PROVIDER: 'baileys', ...env },
    {
      dataDir: options.dataDir,
      providerFactory: (context) =>
        createBaileysProvider(context, {
          makeSocket: fake.makeSocket,
          versionLookups: STUB_VERSIONS,
          backoff: { initialMs: 20, maxMs: 160, stableMs: 150 },
          random: () => 1,
          ...options.dependencies,
        }),
    },
  )
  onTestFinished(() => t.close(true))
  const logs: LogEntry[] = []
  t.hub.events.on('log', (entry) => logs.push(entry))
  const linkVia = async (id: string, client?: Socket) => {
    const socket = client ?? (await t.connect())
    const auth = nextEvent<AuthenticatedEvent>(socket, 'authenticated')
    const before = fake.sockets.length
    await socket.emitWithAck('get_qr', { session_id: id })
    await until(() => fake.sockets.length > before)
    const first = fake.last()
    first.pairDevice()
    await until(() => first.qrs.length === 1)
    first.scanned()
    await until(() => fake.last() !== first)
    fake.last().open()
    await auth
    return { socket, phone: fake.last() }
  }
  return { t, fake, logs, linkVia }
}
