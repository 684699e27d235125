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
import { DamagedDataError, type Namespace } from '../store/store'

export const CREDS_KEY = 'creds'
/** The last creds that were verified readable and linked, taken before each reconnect. */
export const CREDS_BACKUP_KEY = 'creds.bak'

export interface StoreAuthState {
  state: AuthenticationState
  /** Persists the current creds (call on every `creds.update`). */
  saveCreds(): Promise<void>
  /** Resolves when every write made so far is durable. */
  flush(): Promise<void>
  /**
   * Stores the current creds as `creds.bak` if they are a complete link, then reads the backup
   * back to check it. Resolves true once a verified backup is durable.
   */
  backupCreds(): Promise<boolean>
  /** Starts over with new, unlinked creds (an abandoned pairing attempt), and stores them. */
  resetCreds(): Promise<void>
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

const isKeyPair = (value: unknown) => {
  const pair = value as { public?: unknown; private?: unknown } | null | undefined
  return pair?.public instanceof Uint8Array && pair.private instanceof Uint8Array
}

/**
 * Creds as Baileys needs them (`initAuthCreds()`'s keys), or undefined when `value` is not JSON
 * or not creds. Unsealing happens before this: a value the data key cannot open throws there and
 * is never taken for damage here.
 */
export function parseCreds(value: Buffer): AuthenticationCreds | undefined {
  let creds: AuthenticationCreds
  try {
    creds = decode<AuthenticationCreds>(value)
  } catch {
    return undefined
  }
  const valid =
    typeof creds === 'object' &&
    creds !== null &&
    isKeyPair(creds.noiseKey) &&
    isKeyPair(creds.pairingEphemeralKeyPair) &&
    isKeyPair(creds.signedIdentityKey) &&
    isKeyPair(creds.signedPreKey?.keyPair) &&
    typeof creds.registrationId === 'number' &&
    typeof creds.advSecretKey === 'string' &&
    Number.isInteger(creds.nextPreKeyId)
  return valid ? creds : undefined
}

/** Stored creds that are unreadable, with no usable backup: nothing is deleted or replaced. */
export class DamagedCredentialsError extends DamagedDataError {
  constructor() {
    super('the stored WhatsApp credentials are damaged and have no usable backup')
    this.name = 'DamagedCredentialsError'
  }
}

/**
 * The stored creds, or their backup (and its bytes) when they are unreadable. Errors of the store
 * itself (a wrong data key included) are thrown as they are, never "repaired".
 */
async function readCreds(
  store: Namespace,
): Promise<{ creds?: AuthenticationCreds; backup?: Buffer }> {
  const value = await store.get(CREDS_KEY)
  if (value === undefined) return {}
  const creds = parseCreds(value)
  if (creds) return { creds }
  const backup = await store.get(CREDS_BACKUP_KEY)
  const restored = backup && parseCreds(backup)
  if (!backup || !restored) throw new DamagedCredentialsError()
  return { creds: restored, backup }
}

/**
 * Baileys' AuthenticationState over the session's credential namespace: every write is durable
 * and sealed, and writes of one account are applied in order (the store's per-account queue), so
 * a crash leaves either the old or the new value of a key, never half of one.
 *
 * Unreadable creds are replaced by their backup; with no usable backup this throws
 * DamagedCredentialsError and leaves the namespace as it is.
 *
 * `fresh`: a new link starts clean, whatever the namespace holds (creds a pairing attempt saved
 * before it was abandoned would make Baileys log in as a device WhatsApp never registered,
 * socket.js:320-327).
 */
export async function useStoreAuthState(
  store: Namespace,
  logger: Logger,
  options: { fresh?: boolean } = {},
): Promise<StoreAuthState> {
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

  let loaded: { creds?: AuthenticationCreds; backup?: Buffer } = {}
  if (options.fresh) {
    const leftovers = await store.keys()
    if (leftovers.length > 0) await write(leftovers.map((key) => [key, null]))
  } else {
    loaded = await readCreds(store)
    if (loaded.backup) {
      await write([[CREDS_KEY, loaded.backup]])
      logger.warn('Stored WhatsApp credentials were unreadable; restored them from their backup')
    }
  }

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

  const state: AuthenticationState = { creds: loaded.creds ?? initAuthCreds(), keys }
  const saveCreds = () => write([[CREDS_KEY, encode(state.creds)]])

  return {
    state,
    saveCreds,
    async flush() {
      await Promise.allSettled([...pending])
    },
    async backupCreds() {
      const value = encode(state.creds)
      const copy = parseCreds(value)
      if (!copy || !isLinked(copy)) return false
      await write([[CREDS_BACKUP_KEY, value]])
      const stored = await store.get(CREDS_BACKUP_KEY)
      return stored !== undefined && stored.equals(value)
    },
    async resetCreds() {
      state.creds = initAuthCreds()
      await saveCreds()
    },
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

/**
 * Stored credentials of a completed link (their backup when they are unreadable), if any; throws
 * DamagedCredentialsError when neither can be read.
 */
export async function readLinkedCreds(store: Namespace): Promise<AuthenticationCreds | undefined> {
  const { creds } = await readCreds(store)
  return creds && isLinked(creds) ? creds : undefined
}
