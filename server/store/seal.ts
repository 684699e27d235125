import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto'
import type { Namespace, Store } from './store'

/**
 * Sealed values: AES-256-GCM under the hub's data key.
 *
 *   "WLHS" | version (1) | key id (8) | nonce (12) | ciphertext | tag (16)
 *
 * The header and the value's place (its namespace and key) are authenticated too, so a value that
 * was changed, truncated, or moved to another key or account is refused, never silently used.
 * The key id says which key sealed a value: a wrong key is told apart from damage.
 */
const MAGIC = Buffer.from('WLHS', 'ascii')
const VERSION = 1
const KEY_ID_BYTES = 8
const NONCE_BYTES = 12
const TAG_BYTES = 16
const HEADER_BYTES = MAGIC.length + 1 + KEY_ID_BYTES + NONCE_BYTES
export const KEY_BYTES = 32

export interface DataKey {
  /** Hex of the first 8 bytes of a hash of the key: safe to log and store. */
  readonly id: string
  readonly key: Buffer
}

export function dataKey(key: Buffer): DataKey {
  if (key.length !== KEY_BYTES)
    throw new Error(`a data key has ${KEY_BYTES} bytes, not ${key.length}`)
  const id = createHash('sha256')
    .update('wa-link-hub data key id\0')
    .update(key)
    .digest()
    .subarray(0, KEY_ID_BYTES)
    .toString('hex')
  return { id, key: Buffer.from(key) }
}

export type SealErrorKind = 'wrong_key' | 'damaged'

export class SealError extends Error {
  constructor(
    readonly kind: SealErrorKind,
    message: string,
    /** For `wrong_key`: the id of the key that sealed the value. */
    readonly keyId?: string,
  ) {
    super(message)
    this.name = 'SealError'
  }
}

export function isSealed(data: Uint8Array): boolean {
  return data.length >= MAGIC.length && Buffer.from(data.subarray(0, MAGIC.length)).equals(MAGIC)
}

/** The current key seals; older keys (during a rotation) can still open what they sealed. */
export class Keyring {
  private readonly byId: Map<string, DataKey>

  constructor(
    readonly current: DataKey,
    others: readonly DataKey[] = [],
  ) {
    this.byId = new Map([current, ...others].map((key) => [key.id, key]))
  }

  seal(plain: Uint8Array, place: string): Buffer {
    const header = Buffer.alloc(HEADER_BYTES)
    MAGIC.copy(header, 0)
    header[MAGIC.length] = VERSION
    Buffer.from(this.current.id, 'hex').copy(header, MAGIC.length + 1)
    randomBytes(NONCE_BYTES).copy(header, HEADER_BYTES - NONCE_BYTES)
    const cipher = createCipheriv('aes-256-gcm', this.current.key, nonceOf(header))
    cipher.setAAD(additionalData(header, place))
    const body = Buffer.concat([cipher.update(plain), cipher.final()])
    return Buffer.concat([header, body, cipher.getAuthTag()])
  }

  /** The id of the key that sealed `data`; throws a SealError when it is not sealed data. */
  keyIdOf(data: Uint8Array): string {
    if (data.length < HEADER_BYTES + TAG_BYTES || !isSealed(data)) {
      throw new SealError('damaged', 'not sealed data, or truncated')
    }
    if (data[MAGIC.length] !== VERSION) {
      throw new SealError('damaged', `unknown sealed format version ${data[MAGIC.length]}`)
    }
    return Buffer.from(data.subarray(MAGIC.length + 1, MAGIC.length + 1 + KEY_ID_BYTES)).toString(
      'hex',
    )
  }

  unseal(data: Uint8Array, place: string): Buffer {
    const keyId = this.keyIdOf(data)
    const key = this.byId.get(keyId)
    if (!key) {
      throw new SealError(
        'wrong_key',
        `sealed with data key ${keyId}, but this hub has ${this.current.id}`,
        keyId,
      )
    }
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength)
    const header = bytes.subarray(0, HEADER_BYTES)
    const decipher = createDecipheriv('aes-256-gcm', key.key, nonceOf(header))
    decipher.setAAD(additionalData(header, place))
    decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES))
    try {
      return Buffer.concat([
        decipher.update(bytes.subarray(HEADER_BYTES, bytes.length - TAG_BYTES)),
        decipher.final(),
      ])
    } catch {
      throw new SealError('damaged', 'the sealed value was changed or truncated')
    }
  }
}

function nonceOf(header: Buffer): Buffer {
  return header.subarray(HEADER_BYTES - NONCE_BYTES)
}

function additionalData(header: Buffer, place: string): Buffer {
  return Buffer.concat([header, Buffer.from(`\0${place}`, 'utf8')])
}

/** Where a value lives, as bound into its seal. */
export const hubPlace = (key: string) => `hub\0${key}`
export const accountPlace = (account: string, key: string) => `account\0${account}\0${key}`

/** `inner` with every value sealed on write and opened on read. */
export function sealStore(inner: Store, keyring: Keyring): Store {
  const wrap = (ns: Namespace, place: (key: string) => string): Namespace => ({
    async get(key) {
      const value = await ns.get(key)
      return value === undefined ? undefined : keyring.unseal(value, place(key))
    },
    async getMany(keys) {
      const found = await ns.getMany(keys)
      return new Map([...found].map(([key, value]) => [key, keyring.unseal(value, place(key))]))
    },
    write: (changes) =>
      ns.write(
        [...changes].map(
          ([key, value]) => [key, value && keyring.seal(value, place(key))] as const,
        ),
      ),
    keys: (prefix) => ns.keys(prefix),
    usage: (prefix) => ns.usage(prefix),
  })
  return {
    hub: wrap(inner.hub, hubPlace),
    account: (id) => wrap(inner.account(id), (key) => accountPlace(id, key)),
    accountIds: () => inner.accountIds(),
    removeAccount: (id) => inner.removeAccount(id),
    flush: () => inner.flush(),
    close: () => inner.close(),
  }
}
