/**
 * Where the hub keeps what must survive a restart: per account (one WhatsApp link, one session
 * id) its session record, the provider's credentials, its timeline and its sent-message store;
 * and a few hub-wide entries (the generated access token).
 *
 * Two backends implement it (files in DATA_DIR, Redis for a fleet); `sealStore` wraps either so
 * that every value is encrypted at rest. Callers never see a file path or a Redis key.
 */

/** One namespace of binary values by string key. */
export interface Namespace {
  get(key: string): Promise<Buffer | undefined>
  getMany(keys: readonly string[]): Promise<Map<string, Buffer>>
  /**
   * Applies every change (a value writes, `null` deletes) and resolves only once they are durable
   * (fsync, or Redis' acknowledgement). Changes to one account are applied in call order.
   */
  write(changes: Iterable<readonly [string, Buffer | null]>): Promise<void>
  /** Keys present, optionally only those starting with `prefix`, in no particular order. */
  keys(prefix?: string): Promise<string[]>
  /** How many entries (and stored bytes) the namespace holds, optionally under `prefix`. */
  usage(prefix?: string): Promise<{ entries: number; bytes: number }>
}

export interface Store {
  /** Hub-wide entries. */
  readonly hub: Namespace
  /**
   * One account's entries. The handle is valid until `removeAccount(id)`: writes through a handle
   * taken before the removal are dropped, so a late write from an ended link cannot bring the
   * account's data back.
   */
  account(id: string): Namespace
  /** Ids of every account that has stored data, record or not. */
  accountIds(): Promise<string[]>
  /** Deletes everything the account holds, after its pending writes. */
  removeAccount(id: string): Promise<void>
  /** Resolves once every write queued so far is durable. */
  flush(): Promise<void>
  close(): Promise<void>
}

/** A namespace seen through a key prefix (the provider's credentials inside an account). */
export function scoped(inner: Namespace, prefix: string): Namespace {
  const strip = (keys: Iterable<string>) => [...keys].map((key) => key.slice(prefix.length))
  return {
    get: (key) => inner.get(prefix + key),
    async getMany(keys) {
      const found = await inner.getMany(keys.map((key) => prefix + key))
      return new Map([...found].map(([key, value]) => [key.slice(prefix.length), value]))
    },
    write: (changes) =>
      inner.write([...changes].map(([key, value]) => [prefix + key, value] as const)),
    keys: async (more = '') => strip(await inner.keys(prefix + more)),
    usage: (more = '') => inner.usage(prefix + more),
  }
}

export const utf8 = (text: string): Buffer => Buffer.from(text, 'utf8')

/** Reads a JSON value; undefined when absent. */
export async function getJson<T>(ns: Namespace, key: string): Promise<T | undefined> {
  const value = await ns.get(key)
  return value === undefined ? undefined : (JSON.parse(value.toString('utf8')) as T)
}

export function putJson(ns: Namespace, key: string, value: unknown): Promise<void> {
  return ns.write([[key, utf8(JSON.stringify(value))]])
}

/**
 * Stored data that was read but makes no sense (a record naming another account, credentials with
 * no usable backup): reported as damaged and left untouched, never taken for a failed read.
 */
export class DamagedDataError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'DamagedDataError'
  }
}
