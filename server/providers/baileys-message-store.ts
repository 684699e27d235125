import { proto } from '@whiskeysockets/baileys'
import type { Logger } from '../logger'
import type { Namespace } from '../store/store'

/** Where sent messages live in the account's credential namespace: `sent/<message id>`. */
export const SENT_PREFIX = 'sent/'

interface Stored {
  /** When it was sent (ms since the epoch). */
  at: number
  /** `proto.Message`, encoded: the content Baileys' `getMessage` must return. */
  message: string
}

/**
 * The messages this account sent, for WhatsApp's retry requests: a peer that could not decrypt
 * one of our messages sends a retry receipt, and Baileys re-sends the message if it still has it
 * (messages-recv.js:1040-1069). Its own copy lives 5 minutes and dies with the socket
 * (message-retry-manager.js:33-35, messages-send.js:987-988); after that it asks `getMessage`.
 *
 * Kept with the credentials, so a restart does not lose them, at most `max` messages and none
 * older than `maxAgeMs` (the oldest go first). The index (id → time sent) is read on first use.
 */
export class SentMessages {
  /** id → time sent, oldest first. */
  private index?: Promise<Map<string, number>>
  /** Messages indexed in memory (0 until first use). */
  size = 0

  constructor(
    private readonly store: Namespace,
    private readonly limits: { max: number; maxAgeMs: number },
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Keeps a message we sent; a failure is logged (the message went out anyway). */
  async remember(id: string, message: proto.IMessage): Promise<void> {
    try {
      const index = await this.load()
      const stored: Stored = {
        at: this.now(),
        message: Buffer.from(proto.Message.encode(message).finish()).toString('base64'),
      }
      index.delete(id)
      index.set(id, stored.at)
      const changes: [string, Buffer | null][] = [
        [SENT_PREFIX + id, Buffer.from(JSON.stringify(stored), 'utf8')],
      ]
      for (const gone of this.evict(index)) changes.push([SENT_PREFIX + gone, null])
      this.size = index.size
      await this.store.write(changes)
    } catch (error) {
      this.logger.warn('Could not keep a sent message for retries', { error })
    }
  }

  /**
   * The content of a message we sent, by id (a retry receipt may name the chat by LID even when
   * we sent to the phone number, so the id is the key). `undefined` when it is not kept: Baileys
   * then gives up on that retry, whereas an empty message would be re-sent as one
   * (messages-recv.js:1142-1157).
   */
  async get(id: string | null | undefined): Promise<proto.IMessage | undefined> {
    if (!id) return undefined
    try {
      const index = await this.load()
      if (!index.has(id)) return undefined
      const evicted = this.evict(index)
      if (evicted.length > 0) {
        this.size = index.size
        await this.store.write(evicted.map((gone) => [SENT_PREFIX + gone, null] as const))
      }
      if (!index.has(id)) return undefined
      const value = await this.store.get(SENT_PREFIX + id)
      const stored = value && parse(value)
      return stored ? proto.Message.decode(Buffer.from(stored.message, 'base64')) : undefined
    } catch (error) {
      this.logger.warn('Could not read a sent message for a retry', { error })
      return undefined
    }
  }

  private load(): Promise<Map<string, number>> {
    this.index ??= (async () => {
      const keys = await this.store.keys(SENT_PREFIX)
      const values = await this.store.getMany(keys)
      const found: [string, number][] = []
      const unreadable: string[] = []
      for (const key of keys) {
        const value = values.get(key)
        const stored = value && parse(value)
        if (stored) found.push([key.slice(SENT_PREFIX.length), stored.at])
        else unreadable.push(key)
      }
      found.sort((a, b) => a[1] - b[1])
      const index = new Map(found)
      const evicted = this.evict(index).map((id) => SENT_PREFIX + id)
      const gone = [...unreadable, ...evicted]
      if (gone.length > 0) await this.store.write(gone.map((key) => [key, null] as const))
      this.size = index.size
      return index
    })().catch((error: unknown) => {
      this.index = undefined
      throw error
    })
    return this.index
  }

  /** Removes from `index` what is too old or over the count; returns the removed ids. */
  private evict(index: Map<string, number>): string[] {
    const gone: string[] = []
    const oldest = this.now() - this.limits.maxAgeMs
    for (const [id, at] of index) {
      if (index.size <= this.limits.max && at > oldest) break
      index.delete(id)
      gone.push(id)
    }
    return gone
  }
}

function parse(value: Buffer): Stored | undefined {
  try {
    const stored = JSON.parse(value.toString('utf8')) as Partial<Stored>
    return typeof stored.at === 'number' && typeof stored.message === 'string'
      ? (stored as Stored)
      : undefined
  } catch {
    return undefined
  }
}
