import { jidDecode, jidNormalizedUser, proto, type WAMessage } from '@whiskeysockets/baileys'
import type { Logger } from '../logger'
import type { DecryptFailureReason } from '../metrics'

/** Peers whose failures are counted at once, per account; the least recently failing go first. */
export const DECRYPT_PEERS_MAX = 1000
/** Failed messages remembered per account, so a failure seen by both hooks counts once. */
const RECENT_IDS_MAX = 512
/** Devices remembered per peer (a user has a handful). */
const DEVICES_MAX = 16
/** Failures are logged at most this often per account, with their count. */
export const DECRYPT_LOG_EVERY_MS = 60_000

/** Baileys' stub text for a message with nothing to decrypt (a placeholder, not a failure). */
const ABSENT = 'Message absent from node'

/**
 * The reason behind libsignal's (and Baileys' group cipher's) error message. Only a damaged
 * pairwise session (a MAC that fails for every session, session_cipher.js:157-161 and :207,250)
 * is something dropping the sessions can repair.
 */
export function classifyDecryptError(message: string): DecryptFailureReason {
  if (/bad mac/i.test(message)) return 'bad_mac'
  if (/no matching sessions/i.test(message)) return 'no_matching_sessions'
  if (/no session record/i.test(message)) return 'no_session'
  if (/invalid prekey/i.test(message)) return 'invalid_prekey'
  if (/no senderkeyrecord|no session found to decrypt/i.test(message)) return 'no_sender_key'
  if (/old counter/i.test(message)) return 'old_counter'
  if (/key used already|never filled/i.test(message)) return 'key_used'
  return 'other'
}

const SESSION_DAMAGE: ReadonlySet<DecryptFailureReason> = new Set([
  'bad_mac',
  'no_matching_sessions',
])

export interface DecryptPeer {
  /** The sender's user JID, as it wrote (`<user>@s.whatsapp.net` or `<user>@lid`). */
  jid: string
  /** Device ids it wrote from. */
  devices: string[]
}

interface PeerCount {
  count: number
  since: number
  devices: Set<string>
}

/**
 * Watches one account's decryption failures, which surface in two places (no patching):
 * Baileys' logger, `error` 'failed to decrypt message' with `{key, err, author}`
 * (decode-wa-message.js:287-299), which also sees the 'Key used already' case that never reaches
 * an upsert (messages-recv.js:1300-1302); and `messages.upsert` stubs of type CIPHERTEXT whose
 * `messageStubParameters[0]` is the error message. Each failure counts once (by message id), in
 * `onFailure` (for metrics), in one log line a minute at most, and per peer: `resetAfter` session
 * failures from one peer within `windowMs` call `reset(peer)`. Memory stays bounded: at most
 * DECRYPT_PEERS_MAX peers and RECENT_IDS_MAX ids.
 */
export class DecryptFailureWatch {
  private readonly peers = new Map<string, PeerCount>()
  private readonly recentIds = new Set<string>()
  private pending = new Map<DecryptFailureReason, number>()
  private lastLogAt = -Infinity
  private logTimer?: NodeJS.Timeout

  constructor(
    private readonly options: {
      sessionId: string
      resetAfter: number
      windowMs: number
      logger: Logger
      onFailure(reason: DecryptFailureReason): void
      reset(peer: DecryptPeer): void
      now?: () => number
    },
  ) {}

  /** Peers with failures being counted. */
  get size(): number {
    return this.peers.size
  }

  /** Baileys logged at `error`: only 'failed to decrypt message' is a decryption failure. */
  fromLog(fields: unknown, message: string | undefined): void {
    if (message !== 'failed to decrypt message' || !fields || typeof fields !== 'object') return
    const { key, err, author } = fields as {
      key?: { id?: string | null }
      err?: { message?: unknown }
      author?: unknown
    }
    if (typeof author !== 'string' || typeof err?.message !== 'string') return
    this.record(key?.id ?? undefined, author, err.message)
  }

  /** A `messages.upsert` message: true when it is a failure stub (it holds no content). */
  fromUpsert(message: WAMessage): boolean {
    if (message.messageStubType !== proto.WebMessageInfo.StubType.CIPHERTEXT) return false
    const reason = message.messageStubParameters?.[0]
    const author = message.key.participant || message.key.remoteJid
    if (reason && reason !== ABSENT && author) {
      this.record(message.key.id ?? undefined, author, reason)
    }
    return true
  }

  dispose(): void {
    clearTimeout(this.logTimer)
    this.logTimer = undefined
    this.flushLog()
    this.peers.clear()
    this.recentIds.clear()
  }

  private record(id: string | undefined, author: string, errorMessage: string): void {
    if (errorMessage === ABSENT) return
    if (id !== undefined) {
      // Message ids are the sender's: the same id from two peers is two messages.
      const seen = `${jidNormalizedUser(author)}/${id}`
      if (this.recentIds.has(seen)) return
      this.recentIds.add(seen)
      if (this.recentIds.size > RECENT_IDS_MAX) {
        this.recentIds.delete(this.recentIds.values().next().value as string)
      }
    }
    const reason = classifyDecryptError(errorMessage)
    this.options.onFailure(reason)
    this.pending.set(reason, (this.pending.get(reason) ?? 0) + 1)
    this.scheduleLog()
    if (SESSION_DAMAGE.has(reason)) this.countForPeer(author)
  }

  private countForPeer(author: string): void {
    const { resetAfter, windowMs } = this.options
    if (resetAfter === 0) return
    const jid = jidNormalizedUser(author)
    const device = String(jidDecode(author)?.device ?? 0)
    if (!jid) return
    const now = this.now()
    let entry = this.peers.get(jid)
    if (!entry || now - entry.since > windowMs) {
      entry = { count: 0, since: now, devices: new Set() }
    }
    this.peers.delete(jid)
    this.peers.set(jid, entry)
    if (this.peers.size > DECRYPT_PEERS_MAX) {
      this.peers.delete(this.peers.keys().next().value as string)
    }
    entry.count += 1
    if (entry.devices.size < DEVICES_MAX) entry.devices.add(device)
    if (entry.count >= resetAfter) {
      this.peers.delete(jid)
      this.options.reset({ jid, devices: [...entry.devices] })
    }
  }

  private scheduleLog(): void {
    if (this.logTimer) return
    const wait = Math.max(0, this.lastLogAt + DECRYPT_LOG_EVERY_MS - this.now())
    if (wait === 0) {
      this.flushLog()
      return
    }
    this.logTimer = setTimeout(() => {
      this.logTimer = undefined
      this.flushLog()
    }, wait)
    this.logTimer.unref()
  }

  private flushLog(): void {
    if (this.pending.size === 0) return
    const reasons = Object.fromEntries(this.pending)
    const failures = [...this.pending.values()].reduce((sum, n) => sum + n, 0)
    this.pending = new Map()
    this.lastLogAt = this.now()
    this.options.logger.warn('WhatsApp messages could not be decrypted', {
      session_id: this.options.sessionId,
      failures,
      reasons,
    })
  }

  private now(): number {
    return (this.options.now ?? Date.now)()
  }
}
