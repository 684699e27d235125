import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import {
  proto,
  useMultiFileAuthState,
  type KeyPair,
  type SignalDataSet,
} from '@whiskeysockets/baileys'
import { describe, expect, it } from 'vitest'
import { silentLogger, type Logger } from '../../server/logger'
import { useStoreAuthState } from '../../server/providers/baileys-auth-store'
import { FileStore } from '../../server/store/file-store'
import { CREDENTIALS_PREFIX, migrateLegacyData } from '../../server/store/legacy'
import { scoped } from '../../server/store/store'
import { tempDir } from '../helpers/hub'
import { MemoryNamespace } from '../helpers/memory-store'

const pair = (fill: number): KeyPair => ({
  public: Buffer.alloc(32, fill),
  private: Buffer.alloc(32, fill + 1),
})

/** Keys of the types Baileys writes, with ids holding the `/` and `:` its JIDs have. */
const SAMPLE: SignalDataSet = {
  'pre-key': { '1': pair(1), '2': pair(3) },
  session: { '34600111222.0': Buffer.from('session record'), '99887766554433_1.7': null },
  'sender-key': { '120363@g.us::34600111222::7': Buffer.from('sender key') },
  'app-state-sync-key': {
    AAAAAFbG: proto.Message.AppStateSyncKeyData.fromObject({
      keyData: Buffer.alloc(32, 5),
      fingerprint: { rawId: 7, currentIndex: 1, deviceIndexes: [0, 2] },
      timestamp: 1_760_000_000,
    }),
  },
  'lid-mapping': { '34600111222': '99887766554433' },
  'device-list': { '34600111222': ['0', '7'] },
  'sender-key-memory': { '120363@g.us': { '34600111222:7@s.whatsapp.net': true } },
}

const toPlain = (value: unknown): unknown => JSON.parse(JSON.stringify(value))

describe("Baileys' key store over the account's store", () => {
  it('reads back every key it wrote, by type and id, after a restart too', async () => {
    const store = new MemoryNamespace()
    const { state } = await useStoreAuthState(store, silentLogger)
    await state.keys.set(SAMPLE)
    const again = (await useStoreAuthState(store, silentLogger)).state.keys
    for (const auth of [state.keys, again]) {
      expect(await auth.get('pre-key', ['1', '2', '3'])).toEqual({ '1': pair(1), '2': pair(3) })
      expect(await auth.get('session', ['34600111222.0', '99887766554433_1.7'])).toEqual({
        '34600111222.0': Buffer.from('session record'),
      })
      expect(await auth.get('sender-key', ['120363@g.us::34600111222::7'])).toEqual({
        '120363@g.us::34600111222::7': Buffer.from('sender key'),
      })
      expect(await auth.get('lid-mapping', ['34600111222'])).toEqual({
        '34600111222': '99887766554433',
      })
      expect(await auth.get('device-list', ['34600111222'])).toEqual({
        '34600111222': ['0', '7'],
      })
      expect(await auth.get('sender-key-memory', ['120363@g.us'])).toEqual({
        '120363@g.us': { '34600111222:7@s.whatsapp.net': true },
      })
    }
    // One entry per key, named as Baileys' own multi-file store names its files.
    expect((await store.keys()).sort()).toEqual([
      'app-state-sync-key-AAAAAFbG',
      'device-list-34600111222',
      'lid-mapping-34600111222',
      'pre-key-1',
      'pre-key-2',
      'sender-key-120363@g.us--34600111222--7',
      'sender-key-memory-120363@g.us',
      'session-34600111222.0',
    ])
  })

  it('gives app-state sync keys back as the protobuf messages Baileys decodes app state with', async () => {
    const store = new MemoryNamespace()
    const { state } = await useStoreAuthState(store, silentLogger)
    await state.keys.set({ 'app-state-sync-key': SAMPLE['app-state-sync-key'] })
    const { state: restarted } = await useStoreAuthState(store, silentLogger)
    const { AAAAAFbG: key } = await restarted.keys.get('app-state-sync-key', ['AAAAAFbG'])
    expect(key).toBeInstanceOf(proto.Message.AppStateSyncKeyData)
    expect(Buffer.from(key!.keyData!).equals(Buffer.alloc(32, 5))).toBe(true)
    expect(toPlain(key)).toEqual(toPlain(SAMPLE['app-state-sync-key']!.AAAAAFbG))
    expect(await restarted.keys.get('app-state-sync-key', ['missing'])).toEqual({})
  })

  it('deletes a key set to null, and leaves the others', async () => {
    const store = new MemoryNamespace()
    const { state } = await useStoreAuthState(store, silentLogger)
    await state.keys.set(SAMPLE)
    await state.keys.set({
      'pre-key': { '1': null },
      session: { '34600111222.0': null },
      'app-state-sync-key': { AAAAAFbG: null },
    })
    expect(await state.keys.get('pre-key', ['1', '2'])).toEqual({ '2': pair(3) })
    expect(await state.keys.get('session', ['34600111222.0'])).toEqual({})
    expect(await state.keys.get('app-state-sync-key', ['AAAAAFbG'])).toEqual({})
    expect(await store.keys('pre-key-')).toEqual(['pre-key-2'])
    expect(await store.keys('session-')).toEqual([])
    expect(await store.keys('app-state-sync-key-')).toEqual([])
  })

  it('writes all of one set at once, and nothing for an empty set', async () => {
    const store = new MemoryNamespace()
    const { state } = await useStoreAuthState(store, silentLogger)
    const before = store.writes
    await state.keys.set(SAMPLE)
    expect(store.writes).toBe(before + 1)
    await state.keys.set({})
    await state.keys.set({ 'pre-key': {} })
    expect(store.writes).toBe(before + 1)
  })

  it('skips a value it cannot read, with a warning, and still reads the rest', async () => {
    const store = new MemoryNamespace()
    const { state } = await useStoreAuthState(store, silentLogger)
    await state.keys.set({ 'pre-key': { '1': pair(1) } })
    await store.write([['pre-key-2', Buffer.from('{ torn')]])
    const warnings: { message: string; key: unknown }[] = []
    const logger: Logger = {
      ...silentLogger,
      warn: (message, fields) => void warnings.push({ message, key: fields?.key }),
    }
    const { state: reopened } = await useStoreAuthState(store, logger)
    expect(await reopened.keys.get('pre-key', ['1', '2'])).toEqual({ '1': pair(1) })
    expect(warnings).toEqual([
      { message: 'Ignoring an unreadable credentials value', key: 'pre-key-2' },
    ])
  })

  it('flush resolves once every key written so far is durable', async () => {
    const store = new MemoryNamespace()
    const auth = await useStoreAuthState(store, silentLogger)
    store.hold()
    const written = auth.state.keys.set({ 'pre-key': { '9': pair(9) } })
    let flushed = false
    const flush = auth.flush().then(() => (flushed = true))
    await new Promise((resolve) => setImmediate(resolve))
    expect(flushed).toBe(false)
    store.release()
    await Promise.all([written, flush])
    expect(await store.keys('pre-key-')).toEqual(['pre-key-9'])
  })

  it("reads what Baileys' own multi-file store wrote, once an earlier version's folder moves in", async () => {
    const dataDir = await tempDir()
    const folder = join(dataDir, 'sessions', 'moved')
    const baileys = await useMultiFileAuthState(folder)
    await baileys.state.keys.set(SAMPLE)
    await baileys.saveCreds()
    const wrote = new Map<string, unknown>()
    for (const [type, entries] of Object.entries(SAMPLE)) {
      const found = await baileys.state.keys.get(type as keyof SignalDataSet, Object.keys(entries))
      // Baileys answers null for what it does not have; this store leaves it out.
      wrote.set(type, toPlain(Object.fromEntries(Object.entries(found).filter(([, v]) => v))))
    }
    expect((await readdir(folder)).length).toBeGreaterThan(5)
    // Earlier versions kept Baileys' folder as it is, under DATA_DIR/sessions/<id>/.
    const store = await FileStore.open(dataDir, silentLogger)
    expect(await migrateLegacyData(dataDir, store, silentLogger)).toBeGreaterThan(5)

    const credentials = scoped(store.account('moved'), CREDENTIALS_PREFIX)
    const { state } = await useStoreAuthState(credentials, silentLogger)
    expect(toPlain(state.creds)).toEqual(toPlain(baileys.state.creds))
    for (const [type, entries] of Object.entries(SAMPLE)) {
      const found = await state.keys.get(type as keyof SignalDataSet, Object.keys(entries))
      expect(toPlain(found), type).toEqual(wrote.get(type))
    }
    expect(await readdir(folder).catch(() => [])).toEqual([])
  })
})
