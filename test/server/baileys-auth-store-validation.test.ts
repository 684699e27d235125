import { BufferJSON, initAuthCreds, type AuthenticationCreds } from '@whiskeysockets/baileys'
import { describe, expect, it } from 'vitest'
import { silentLogger } from '../../server/logger'
import {
  CREDS_BACKUP_KEY,
  CREDS_KEY,
  DamagedCredentialsError,
  parseCreds,
  readLinkedCreds,
  useStoreAuthState,
} from '../../server/providers/baileys-auth-store'
import { MemoryNamespace } from '../helpers/memory-store'

const encode = (value: unknown) => Buffer.from(JSON.stringify(value, BufferJSON.replacer))

/** Creds as they are once WhatsApp confirmed the link. */
const linkedCreds = (): AuthenticationCreds => ({
  ...initAuthCreds(),
  me: { id: '34600111222:7@s.whatsapp.net' },
  account: {
    details: Buffer.from('details'),
    accountSignatureKey: Buffer.alloc(32, 1),
    accountSignature: Buffer.alloc(64, 2),
    deviceSignature: Buffer.alloc(64, 3),
  },
})

/** Creds as plain JSON, the shape a damage is applied to. */
interface PlainCreds {
  [key: string]: unknown
  noiseKey?: Record<string, unknown>
  pairingEphemeralKeyPair?: Record<string, unknown>
  signedPreKey?: Record<string, unknown>
}

/** Plain JSON copy of fresh creds, damaged by `damage`. */
const damagedCreds = (damage: (creds: PlainCreds) => unknown): Buffer => {
  const creds = JSON.parse(encode(initAuthCreds()).toString()) as PlainCreds
  const result = damage(creds)
  return encode(result === undefined ? creds : result)
}

const DAMAGES: [string, (creds: PlainCreds) => unknown][] = [
  ['null', () => null],
  ['a number', () => 5],
  ['a string', () => 'creds'],
  ['no noise key', (c) => void delete c.noiseKey],
  ['a noise key whose public half is text', (c) => void (c.noiseKey!.public = 'abc')],
  ['no private half of the pairing key', (c) => void delete c.pairingEphemeralKeyPair!.private],
  ['no signed identity key', (c) => void delete c.signedIdentityKey],
  ['no signed pre-key at all', (c) => void delete c.signedPreKey],
  ['a signed pre-key without its key pair', (c) => void delete c.signedPreKey!.keyPair],
  ['a registration id that is text', (c) => void (c.registrationId = String(c.registrationId))],
  ['no adv secret key', (c) => void delete c.advSecretKey],
  ['a next pre-key id that is no integer', (c) => void (c.nextPreKeyId = 1.5)],
]

describe('stored WhatsApp credentials', () => {
  it('accepts the creds Baileys creates, after a round trip through the store', async () => {
    const store = new MemoryNamespace()
    const auth = await useStoreAuthState(store, silentLogger)
    await auth.saveCreds()
    expect(parseCreds(store.values.get(CREDS_KEY)!)).toEqual(auth.state.creds)
    const { state } = await useStoreAuthState(store, silentLogger)
    expect(state.creds).toEqual(auth.state.creds)
  })

  it.each(DAMAGES)('takes creds with %s for damaged, without throwing', (_, damage) => {
    expect(parseCreds(damagedCreds(damage))).toBeUndefined()
  })

  it.each(DAMAGES)('restores creds with %s from their backup', async (_, damage) => {
    const store = new MemoryNamespace()
    const backup = encode(linkedCreds())
    await store.write([
      [CREDS_KEY, damagedCreds(damage)],
      [CREDS_BACKUP_KEY, backup],
    ])
    const { state } = await useStoreAuthState(store, silentLogger)
    expect(state.creds.me?.id).toBe(linkedCreds().me!.id)
    expect(store.values.get(CREDS_KEY)!.equals(backup)).toBe(true)
    expect((await readLinkedCreds(store))?.me?.id).toBe(linkedCreds().me!.id)
  })

  it('reports damaged creds with no usable backup by name, and deletes nothing', async () => {
    for (const backup of [undefined, Buffer.from('{ torn'), damagedCreds(() => null)]) {
      const store = new MemoryNamespace()
      const torn = Buffer.from('{ "noiseKey": ')
      await store.write([
        [CREDS_KEY, torn],
        ...(backup ? [[CREDS_BACKUP_KEY, backup] as const] : []),
      ])
      await store.write([
        ['pre-key-1', encode({ public: Buffer.alloc(32), private: Buffer.alloc(32) })],
      ])
      const before = new Map(store.values)
      for (const open of [
        () => useStoreAuthState(store, silentLogger),
        () => readLinkedCreds(store),
      ]) {
        const error = await open().then(
          () => undefined,
          (e: unknown) => e,
        )
        expect(error).toBeInstanceOf(DamagedCredentialsError)
        expect((error as Error).name).toBe('DamagedCredentialsError')
        expect((error as Error).message).toMatch(/credentials are damaged/)
      }
      expect(store.values).toEqual(before)
    }
  })

  it('reads linked creds only: none stored, or not linked yet, is no link', async () => {
    const store = new MemoryNamespace()
    expect(await readLinkedCreds(store)).toBeUndefined()
    await store.write([
      [CREDS_KEY, encode({ ...initAuthCreds(), me: { id: '34600111222@s.whatsapp.net' } })],
    ])
    expect(await readLinkedCreds(store)).toBeUndefined()
    await store.write([[CREDS_KEY, encode(linkedCreds())]])
    expect((await readLinkedCreds(store))?.account).toEqual(linkedCreds().account)
  })
})

describe('the backup of the credentials', () => {
  it('is taken of linked creds only, and reads back as the creds', async () => {
    const store = new MemoryNamespace()
    const auth = await useStoreAuthState(store, silentLogger)
    expect(await auth.backupCreds()).toBe(false)
    expect(store.values.has(CREDS_BACKUP_KEY)).toBe(false)
    auth.state.creds = linkedCreds()
    expect(await auth.backupCreds()).toBe(true)
    expect(parseCreds(store.values.get(CREDS_BACKUP_KEY)!)).toEqual(auth.state.creds)
  })

  it('is reported not taken when the store does not give back what was written', async () => {
    for (const lose of [
      () => null,
      (value: Buffer) => Buffer.concat([value.subarray(0, 10), Buffer.from('!')]),
    ]) {
      const store = new MemoryNamespace()
      const write = store.write.bind(store)
      store.write = (changes) =>
        write(
          [...changes].map(([key, value]) => [
            key,
            key === CREDS_BACKUP_KEY && value ? lose(value) : value,
          ]),
        )
      const auth = await useStoreAuthState(store, silentLogger)
      auth.state.creds = linkedCreds()
      expect(await auth.backupCreds()).toBe(false)
    }
  })
})

describe('a fresh link', () => {
  it('starts from an empty namespace without writing anything', async () => {
    const store = new MemoryNamespace()
    const auth = await useStoreAuthState(store, silentLogger, { fresh: true })
    await auth.flush()
    expect(store.writes).toBe(0)
    expect(await store.keys()).toEqual([])
  })

  it('leaves nothing of an earlier attempt, damaged creds included', async () => {
    const store = new MemoryNamespace()
    await store.write([
      [CREDS_KEY, Buffer.from('{ torn')],
      ['pre-key-1', encode({ public: Buffer.alloc(32), private: Buffer.alloc(32) })],
    ])
    const { state } = await useStoreAuthState(store, silentLogger, { fresh: true })
    expect(await store.keys()).toEqual([])
    expect(state.creds.me).toBeUndefined()
  })
})

describe('keys read back', () => {
  it('by id, each its own, and never a value that is null or unreadable', async () => {
    const store = new MemoryNamespace()
    const { state } = await useStoreAuthState(store, silentLogger)
    await state.keys.set({ 'lid-mapping': { '1': 'one', '2': 'two' } })
    await store.write([
      ['lid-mapping-3', Buffer.from('null')],
      ['lid-mapping-4', Buffer.from('{ torn')],
    ])
    const { state: reopened } = await useStoreAuthState(store, silentLogger)
    const found = await reopened.keys.get('lid-mapping', ['1', '2', '3', '4', '5'])
    expect(Object.keys(found).sort()).toEqual(['1', '2'])
    expect(found).toStrictEqual({ '1': 'one', '2': 'two' })
    expect((await store.keys('lid-mapping-')).sort()).toEqual([
      'lid-mapping-1',
      'lid-mapping-2',
      'lid-mapping-3',
      'lid-mapping-4',
    ])
  })
})
