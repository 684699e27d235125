import { randomBytes } from 'node:crypto'
import { readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { silentLogger, type LogEntry, type Logger } from '../../../server/logger'
import { FileStore } from '../../../server/store/file-store'
import { decodeName, encodeName } from '../../../server/store/names'
import { dataKey, Keyring, SealError, sealStore } from '../../../server/store/seal'
import type { Store } from '../../../server/store/store'
import { tempDir } from '../../helpers/hub'
import { filesUnder } from '../../helpers/store'

const keyring = new Keyring(dataKey(Buffer.alloc(32, 1)))
const b = (text: string) => Buffer.from(text, 'utf8')

async function open(dir?: string, ring = keyring, logger: Logger = silentLogger) {
  const dataDir = dir ?? (await tempDir())
  const raw = await FileStore.open(dataDir, logger)
  return { dataDir, raw, store: sealStore(raw, ring) }
}

const opened: Store[] = []
afterEach(async () => {
  for (const store of opened.splice(0)) await store.close()
})

describe('file names', () => {
  it('round-trips any key, and refuses names it did not make', () => {
    for (const key of ['a', 'Shop', 'shop', 'CON', 'nul', 'COM1', 'p/pre-key-12', 'ü/é:x', '']) {
      if (key === '') continue
      expect(decodeName(encodeName(key))).toBe(key)
    }
    expect(decodeName('.x.tmp')).toBeUndefined()
    expect(decodeName('session.json')).toBeUndefined()
    expect(decodeName('ABC')).toBeUndefined()
  })

  it('gives ids that differ only by case, and Windows reserved names, folders of their own', async () => {
    const { dataDir, store } = await open()
    opened.push(store)
    const ids = ['Shop', 'shop', 'SHOP', 'CON', 'con', 'NUL', 'COM1', 'LPT9', 'aux', 'PRN']
    for (const id of ids) await store.account(id).write([['record', b(id)]])
    const folders = await readdir(join(dataDir, 'accounts'))
    expect(new Set(folders.map((f) => f.toLowerCase())).size).toBe(ids.length)
    const reserved = /^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$/i
    expect(folders.filter((f) => reserved.test(f))).toEqual([])
    expect((await store.accountIds()).sort()).toEqual([...ids].sort())
    for (const id of ids) expect((await store.account(id).get('record'))?.toString()).toBe(id)
  })
})

describe('FileStore', () => {
  it('writes durably in call order and reads back what it wrote', async () => {
    const { store } = await open()
    opened.push(store)
    const account = store.account('a1')
    const writes = Array.from({ length: 50 }, (_, i) => account.write([['k', b(String(i))]]))
    await Promise.all(writes)
    expect((await account.get('k'))?.toString()).toBe('49')
    await account.write([
      ['x', b('1')],
      ['y', b('2')],
      ['k', null],
    ])
    expect((await account.keys()).sort()).toEqual(['x', 'y'])
    const many = await account.getMany(['x', 'y', 'missing'])
    expect(Object.fromEntries([...many].map(([k, v]) => [k, v.toString()]))).toEqual({
      x: '1',
      y: '2',
    })
    expect(await account.keys('x')).toEqual(['x'])
    expect((await account.usage()).entries).toBe(2)
  })

  it('a read waits for the writes queued before it', async () => {
    const { store } = await open()
    opened.push(store)
    const account = store.account('rw')
    void account.write([['k', b('new')]])
    expect((await account.get('k'))?.toString()).toBe('new')
  })

  it('creates its folders 0700 and its files 0600', async () => {
    const { dataDir, store } = await open(join(await tempDir(), 'fresh'))
    opened.push(store)
    await store.account('perm').write([['record', b('x')]])
    await store.hub.write([['access-token', b('t')]])
    const mode = async (path: string) => (await stat(path)).mode & 0o777
    expect(await mode(dataDir)).toBe(0o700)
    expect(await mode(join(dataDir, 'accounts'))).toBe(0o700)
    const [folder] = await readdir(join(dataDir, 'accounts'))
    expect(await mode(join(dataDir, 'accounts', folder!))).toBe(0o700)
    for (const file of await filesUnder(dataDir))
      expect(await mode(join(dataDir, file))).toBe(0o600)
  })

  it('drops writes through a handle taken before the account was removed', async () => {
    const { dataDir, store } = await open()
    opened.push(store)
    const before = store.account('gone')
    await before.write([['creds', b('old')]])
    const late = before.write([['creds', b('late, queued before the removal')]])
    const removal = store.removeAccount('gone')
    const afterRemoval = before.write([['creds', b('after the removal')]])
    await Promise.all([late, removal, afterRemoval])
    expect(await store.accountIds()).toEqual([])
    expect(await readdir(join(dataDir, 'accounts'))).toEqual([])
    // A new handle starts the account afresh.
    await store.account('gone').write([['creds', b('new link')]])
    expect((await store.account('gone').get('creds'))?.toString()).toBe('new link')
  })

  it('removes temp files torn by a crash when it opens, and says so', async () => {
    const { dataDir, store } = await open()
    await store.account('torn').write([['record', b('kept')]])
    const [folder] = await readdir(join(dataDir, 'accounts'))
    const torn = join(dataDir, 'accounts', folder!, `.${encodeName('record')}.deadbeef.tmp`)
    await writeFile(torn, 'half of a')
    const logs: LogEntry[] = []
    const logger = {
      ...silentLogger,
      warn: (message: string) => logs.push({ message } as LogEntry),
    }
    const again = await open(dataDir, keyring, logger)
    opened.push(again.store)
    expect(await readdir(join(dataDir, 'accounts', folder!))).toEqual([encodeName('record')])
    expect((await again.store.account('torn').get('record'))?.toString()).toBe('kept')
    expect(logs.map((l) => l.message)).toContain('Removed a temp file torn by an interrupted write')
  })
})

describe('sealing', () => {
  it('stores no plain text: values, keys and account ids are unreadable on disk', async () => {
    const marker = `MARKER${randomBytes(4).toString('hex')}`
    const { dataDir, store } = await open()
    opened.push(store)
    await store.account(marker).write([[`p/${marker}`, b(`{"name":"${marker}"}`)]])
    await store.hub.write([[marker, b(marker)]])
    for (const file of await filesUnder(dataDir)) {
      expect(file).not.toContain(marker)
      const bytes = await readFile(join(dataDir, file))
      expect(bytes.includes(b(marker))).toBe(false)
      expect(bytes.includes(b(marker.toLowerCase()))).toBe(false)
    }
    expect((await store.account(marker).get(`p/${marker}`))?.toString()).toContain(marker)
  })

  it('refuses a value with one byte flipped, truncated, or moved to another key or account', async () => {
    const { raw, store } = await open()
    opened.push(store)
    await store.account('t').write([
      ['a', b('the real value')],
      ['b', b('another value')],
    ])
    const sealed = (await raw.account('t').get('a'))!
    for (let i = 0; i < sealed.length; i += 7) {
      const flipped = Buffer.from(sealed)
      flipped[i]! ^= 0x01
      await raw.account('t').write([['a', flipped]])
      await expect(store.account('t').get('a')).rejects.toBeInstanceOf(SealError)
    }
    await raw.account('t').write([['a', sealed.subarray(0, sealed.length - 1)]])
    await expect(store.account('t').get('a')).rejects.toMatchObject({ kind: 'damaged' })
    await raw.account('t').write([['a', sealed.subarray(0, 20)]])
    await expect(store.account('t').get('a')).rejects.toMatchObject({ kind: 'damaged' })
    // Moved: a valid sealed value under another key, or in another account.
    await raw.account('t').write([['b', sealed]])
    await expect(store.account('t').get('b')).rejects.toMatchObject({ kind: 'damaged' })
    await raw.account('u').write([['a', sealed]])
    await expect(store.account('u').get('a')).rejects.toMatchObject({ kind: 'damaged' })
    // The original, put back, still opens: nothing was replaced behind the caller's back.
    await raw.account('t').write([['a', sealed]])
    expect((await store.account('t').get('a'))?.toString()).toBe('the real value')
  })

  it('tells a wrong key from damage, and reads with an older key kept in the keyring', async () => {
    const { dataDir, store } = await open()
    await store.account('k').write([['record', b('sealed with key 1')]])
    await store.close()
    const other = new Keyring(dataKey(Buffer.alloc(32, 2)))
    const wrong = await open(dataDir, other)
    opened.push(wrong.store)
    const error = await wrong.store
      .account('k')
      .get('record')
      .catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(SealError)
    expect(error).toMatchObject({ kind: 'wrong_key', keyId: keyring.current.id })
    const rotating = await open(dataDir, new Keyring(other.current, [keyring.current]))
    opened.push(rotating.store)
    expect((await rotating.store.account('k').get('record'))?.toString()).toBe('sealed with key 1')
  })

  it('makes a fresh nonce for every value', async () => {
    const { raw, store } = await open()
    opened.push(store)
    await store.account('n').write([
      ['a', b('same')],
      ['b', b('same')],
    ])
    const [a, c] = [await raw.account('n').get('a'), await raw.account('n').get('b')]
    expect(a!.equals(c!)).toBe(false)
  })
})

it('needs a 32-byte key', () => {
  expect(() => dataKey(Buffer.alloc(16))).toThrow(/32 bytes/)
})
