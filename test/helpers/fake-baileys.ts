import { Boom } from '@hapi/boom'
import {
  DisconnectReason,
  makeEventBuffer,
  type AnyMessageContent,
  type AuthenticationCreds,
  type Contact,
  type UserFacingSocketConfig,
  type WAMessage,
} from '@whiskeysockets/baileys'
import type { BaileysSocket, SocketFactory } from '../../server/providers/baileys'

const quiet = {
  level: 'silent',
  child: () => quiet,
  trace: () => {},
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
}

/**
 * Behaves like Baileys' socket where the provider can see it: events through Baileys' own event
 * buffer, `connecting` on the next tick, `end()` emitting `close` with `lastDisconnect` and then
 * being dead, `logout()` refusing when not connected, `requestPairingCode()` mutating creds (and
 * emitting `creds.update`) even when it fails. Drivers play WhatsApp's side.
 */
export class FakeWASocket implements BaileysSocket {
  readonly ev = makeEventBuffer(quiet)
  readonly sent: { jid: string; content: AnyMessageContent }[] = []
  ended = false
  endedWith: Error | undefined
  logoutCalls = 0
  private me: Contact | undefined
  private isOpen = false
  private handshaken = false
  pairingWorks = true

  constructor(readonly config: UserFacingSocketConfig) {
    setImmediate(() => {
      if (!this.ended) this.ev.emit('connection.update', { connection: 'connecting' })
    })
  }

  get user(): Contact | undefined {
    return this.me
  }

  async end(error: Error | undefined): Promise<void> {
    if (this.ended) return
    this.close(error)
  }

  async logout(): Promise<void> {
    this.logoutCalls += 1
    if (!this.isOpen)
      throw new Boom('Connection Closed', { statusCode: DisconnectReason.connectionClosed })
    this.close(new Boom('Intentional Logout', { statusCode: DisconnectReason.loggedOut }))
  }

  async requestPairingCode(phoneNumber: string): Promise<string> {
    const creds = this.config.auth.creds
    creds.pairingCode = 'PAIRCODE'
    creds.me = { id: `${phoneNumber}@s.whatsapp.net`, name: '~' }
    this.ev.emit('creds.update', creds)
    if (!this.handshaken || !this.pairingWorks) {
      throw new Boom('Connection Closed', { statusCode: DisconnectReason.connectionClosed })
    }
    return 'ABCD2345'
  }

  async sendMessage(jid: string, content: AnyMessageContent): Promise<WAMessage | undefined> {
    if (!this.isOpen)
      throw new Boom('Connection Closed', { statusCode: DisconnectReason.connectionClosed })
    this.sent.push({ jid, content })
    return { key: { id: `OUT${this.sent.length}`, remoteJid: jid, fromMe: true } } as WAMessage
  }

  // ---- WhatsApp's side -------------------------------------------------------------------------

  showQr(qr: string): void {
    this.handshaken = true
    this.ev.emit('connection.update', { qr })
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
    this.close(
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

  open(user: Contact = { id: '34600111222:7@s.whatsapp.net', name: 'Ana' }): void {
    this.isOpen = true
    this.handshaken = true
    this.me = user
    this.ev.emit('connection.update', { connection: 'open', isNewLogin: false })
  }

  /** The connection drops with a status code (a Boom), or with a plain Error when `code` is null. */
  drop(code: number | null, message = 'Connection Failure'): void {
    this.close(code === null ? new Error(message) : new Boom(message, { statusCode: code }))
  }

  receive(messages: WAMessage[], type: 'notify' | 'append' = 'notify'): void {
    this.ev.emit('messages.upsert', { messages, type })
  }

  private close(error: Error | undefined): void {
    this.ended = true
    this.endedWith = error
    this.isOpen = false
    this.ev.emit('connection.update', {
      connection: 'close',
      lastDisconnect: { error, date: new Date() },
    })
    this.ev.removeAllListeners('connection.update')
    this.ev.removeAllListeners('creds.update')
    this.ev.removeAllListeners('messages.upsert')
  }
}

export function fakeBaileys() {
  const sockets: FakeWASocket[] = []
  const makeSocket: SocketFactory = (config) => {
    const socket = new FakeWASocket(config)
    sockets.push(socket)
    return socket
  }
  return { makeSocket, sockets, last: () => sockets.at(-1)! }
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
