import {
  BufferJSON,
  initAuthCreds,
  proto,
  type AuthenticationCreds,
  type AuthenticationState,
  type SignalDataSet,
  type SignalDataTypeMap,
  type SignalKeyStore,
} from '@whiskeysockets/baileys'
import type { Logger } from '../logger'
import type { Namespace } from '../store/store'

export const CREDS_KEY = 'creds'

export interface StoreAuthState {
  state: AuthenticationState
  /** Persists the current creds (call on every `creds.update`). */
  saveCreds(): Promise<void>
  /** Resolves when every write made so far is durable. */
  flush(): Promise<void>
  /** True when creds existed: a linked (or half-linked) account lives here. */
  readonly restored: boolean
}

/**
 * A key's name in the store: `<type>-<id>`, with `/` and `:` replaced, the names Baileys' own
 * useMultiFileAuthState gives its files (without `.json`), so data it wrote moves in unchanged.
 */
export function authKey(type: string, id: string): string {
  return `${type}-${id.replace(/\//g, '__').replace(/:/g, '-')}`
}

const encode = (value: unknown) => Buffer.from(JSON.stringify(value, BufferJSON.replacer), 'utf8')
const decode = <T>(value: Buffer) => JSON.parse(value.toString('utf8'), BufferJSON.reviver) as T

/**
 * Baileys' AuthenticationState over the session's credential namespace: every write is durable
 * and sealed, and writes of one account are applied in order (the store's per-account queue), so
 * a crash leaves either the old or the new value of a key, never half of one.
 */
export async function useStoreAuthState(store: Namespace, logger: Logger): Promise<StoreAuthState> {
  const pending = new Set<Promise<void>>()
  const write = (changes: [string, Buffer | null][]): Promise<void> => {
    const done = store.write(changes)
    pending.add(done)
    const forget = () => pending.delete(done)
    done.then(forget, forget)
    return done
  }
  const parse = <T>(key: string, value: Buffer): T | undefined => {
    try {
      return decode<T>(value)
    } catch (error) {
      logger.warn('Ignoring an unreadable credentials value', { key, error })
      return undefined
    }
  }

  const storedValue = await store.get(CREDS_KEY)
  const stored =
    storedValue === undefined ? undefined : parse<AuthenticationCreds>(CREDS_KEY, storedValue)
  const creds = stored ?? initAuthCreds()

  const keys: SignalKeyStore = {
    async get<T extends keyof SignalDataTypeMap>(type: T, ids: string[]) {
      const names = new Map(ids.map((id) => [authKey(type, id), id]))
      const values = await store.getMany([...names.keys()])
      const found: { [id: string]: SignalDataTypeMap[T] } = {}
      for (const [name, value] of values) {
        let parsed = parse<SignalDataTypeMap[T]>(name, value)
        if (type === 'app-state-sync-key' && parsed) {
          parsed = proto.Message.AppStateSyncKeyData.fromObject(
            parsed as unknown as proto.Message.IAppStateSyncKeyData,
          ) as unknown as SignalDataTypeMap[T]
        }
        if (parsed !== undefined && parsed !== null) found[names.get(name)!] = parsed
      }
      return found
    },
    async set(data: SignalDataSet) {
      const changes: [string, Buffer | null][] = []
      for (const [type, entries] of Object.entries(data)) {
        for (const [id, value] of Object.entries(entries ?? {})) {
          changes.push([authKey(type, id), value ? encode(value) : null])
        }
      }
      if (changes.length > 0) await write(changes)
    },
  }

  return {
    state: { creds, keys },
    saveCreds: () => write([[CREDS_KEY, encode(creds)]]),
    async flush() {
      await Promise.allSettled([...pending])
    },
    restored: stored !== undefined,
  }
}

/**
 * True once WhatsApp confirmed the link (`pair-success`, which writes `account`, the signed device
 * identity). `registered` is no sign of it: Baileys sets it only in the pairing-code flow, and
 * `me` alone is set as soon as a pairing code is requested.
 */
export function isLinked(creds: AuthenticationCreds): boolean {
  return Boolean(creds.me?.id && creds.account)
}

/** Stored credentials of a completed link, if there are any. */
export async function readLinkedCreds(store: Namespace): Promise<AuthenticationCreds | undefined> {
  const value = await store.get(CREDS_KEY)
  if (value === undefined) return undefined
  try {
    const creds = decode<AuthenticationCreds>(value)
    return isLinked(creds) ? creds : undefined
  } catch {
    return undefined
  }
}
