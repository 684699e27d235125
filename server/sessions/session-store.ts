import { z, ZodError } from 'zod'
import type { Logger } from '../logger'
import {
  PROVIDER_NAMES,
  SESSION_ID_PATTERN,
  TIMELINE_MAX,
  type LinkedUser,
  type ProviderName,
  type TimelineEntry,
} from '../protocol'
import { CREDENTIALS_PREFIX, RECORD_KEY } from '../store/legacy'
import { SealError } from '../store/seal'
import {
  DamagedDataError,
  getJson,
  putJson,
  scoped,
  type Namespace,
  type Store,
} from '../store/store'

const recordSchema = z.object({
  id: z.string().regex(SESSION_ID_PATTERN),
  provider: z.enum(PROVIDER_NAMES),
  user: z.object({ id: z.string(), name: z.string() }),
  linked_at: z.string(),
})

/** What survives a restart: a linked session. Its credentials live beside it, the provider's. */
export interface SessionRecord {
  id: string
  provider: ProviderName
  user: LinkedUser
  linked_at: string
}

/** A stored session the hub cannot read: kept as it is, reported, never deleted by the hub. */
export interface UnreadableSession {
  id: string
  reason: 'wrong_key' | 'damaged'
  message: string
}

/** What one account holds, as the hub finds it on load. */
export type StoredSession =
  | { kind: 'record'; record: SessionRecord }
  /** Credentials but no record (a link interrupted before it was confirmed). */
  | { kind: 'orphan' }
  /** Stored data the hub cannot read: kept as it is, reported, never deleted by the hub. */
  | { kind: 'unreadable'; problem: UnreadableSession }
  | { kind: 'none' }

const TIMELINE_KEY = 'timeline'

/**
 * One session's stored data, until it is removed: a handle taken before `SessionStore.remove`
 * writes nothing after it, so nothing of an ended link comes back.
 */
export class SessionData {
  /** The provider's credentials. */
  readonly credentials: Namespace

  constructor(private readonly account: Namespace) {
    this.credentials = scoped(account, CREDENTIALS_PREFIX)
  }

  /** Resolves once the record is durable. */
  save(record: SessionRecord): Promise<void> {
    return putJson(this.account, RECORD_KEY, record)
  }

  saveTimeline(entries: readonly TimelineEntry[]): Promise<void> {
    return putJson(this.account, TIMELINE_KEY, entries.slice(-TIMELINE_MAX))
  }

  /** The stored timeline; empty when there is none or it cannot be read (and says so). */
  async loadTimeline(logger: Logger): Promise<TimelineEntry[]> {
    try {
      const entries = await getJson<TimelineEntry[]>(this.account, TIMELINE_KEY)
      return Array.isArray(entries) ? entries.slice(-TIMELINE_MAX) : []
    } catch (error) {
      logger.warn('Could not read an account timeline; it starts again', { error })
      return []
    }
  }
}

/** Session records and the providers' credential namespaces, over the hub's store. */
export class SessionStore {
  constructor(
    private readonly store: Store,
    private readonly logger: Logger,
  ) {}

  /** The session's data from now until its next removal. */
  open(id: string): SessionData {
    return new SessionData(this.store.account(id))
  }

  /** Deletes everything the session stored, credentials included, after its pending writes. */
  remove(id: string): Promise<void> {
    return this.store.removeAccount(id)
  }

  /** The ids of every account with stored data, valid or not. */
  async ids(): Promise<string[]> {
    const ids: string[] = []
    for (const id of await this.store.accountIds()) {
      if (SESSION_ID_PATTERN.test(id)) ids.push(id)
      else this.logger.warn('Ignoring stored data of an invalid session id', { session_id: id })
    }
    return ids
  }

  async load(id: string): Promise<StoredSession> {
    try {
      const value = await getJson<unknown>(this.store.account(id), RECORD_KEY)
      if (value === undefined) {
        const credentials = await this.open(id).credentials.keys()
        return credentials.length > 0 ? { kind: 'orphan' } : { kind: 'none' }
      }
      const record = recordSchema.parse(value)
      if (record.id !== id) throw new DamagedDataError('the record names another session')
      return { kind: 'record', record }
    } catch (error) {
      // Only data that cannot be read means damaged; a failed read (I/O, Redis) is thrown.
      const unreadable =
        error instanceof SealError ||
        error instanceof DamagedDataError ||
        error instanceof ZodError ||
        error instanceof SyntaxError
      if (!unreadable) throw error
      const wrongKey = error instanceof SealError && error.kind === 'wrong_key'
      const message = wrongKey
        ? 'The data key does not match the one this session was stored with; nothing was deleted'
        : 'The stored session is damaged and cannot be read; nothing was deleted'
      this.logger.error(message, { session_id: id, error })
      return {
        kind: 'unreadable',
        problem: { id, reason: wrongKey ? 'wrong_key' : 'damaged', message },
      }
    }
  }

  flush(): Promise<void> {
    return this.store.flush()
  }
}
