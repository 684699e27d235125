import {
  initAuthCreds,
  makeCacheableSignalKeyStore,
  type AuthenticationCreds,
  type KeyPair,
} from '@whiskeysockets/baileys'
import { describe, expect, it } from 'vitest'
import { silentLogger } from '../../server/logger'
import {
  authKey,
  CREDS_BACKUP_KEY,
  CREDS_KEY,
  DamagedCredentialsError,
  isLinked,
  parseCreds,
  useStoreAuthState,
} from '../../server/providers/baileys-auth-store'
import { BoundedCache } from '../../server/providers/baileys-caches'
import {
  PRE_KEY_MIN_AGE_MS,
  PRE_KEYS_KEPT_NEWEST,
  UPKEEP_EVERY_MS,
  UPKEEP_KEY,
  upkeepCredentials,
} from '../../server/providers/baileys-upkeep'
import { SealError } from '../../server/store/seal'
import { directProvider, linkPhone, startBaileysHub } from '../helpers/fake-baileys'
import { MemoryNamespace } from '../helpers/memory-store'
import { credentialsOf, storedSessionIds } from '../helpers/store'
import { until } from '../main/launch'

const DAY = 86_400_000
const keyPair = (): KeyPair => ({ public: Buffer.alloc(32, 7), private: Buffer.alloc(32, 9) })

/**
 * An account store holding pre-keys 1..count, with `nextPreKeyId` = count + 1, and counter notes
 * (none when `marks` is undefined; entries need not be well formed).
 */
async function storeWithPreKeys(count: number, marks: unknown[] | undefined) {
  const store = new MemoryNamespace()
  const auth = await useStoreAuthState(store, silentLogger)
  const ids = Array.from({ length: count }, (_, i) => String(i + 1))
  await auth.state.keys.set({ 'pre-key': Object.fromEntries(ids.map((id) => [id, keyPair()])) })
  auth.state.creds.nextPreKeyId = count + 1
  auth.state.creds.firstUnuploadedPreKeyId = count + 1
  if (marks) await store.write([[UPKEEP_KEY, Buffer.from(JSON.stringify({ marks }))]])
  const keys = makeCacheableSignalKeyStore(
    auth.state.keys,
    undefined,
    new BoundedCache(5000, 300_000),
  )
  const preKeyIds = async () =>
    (await store.keys(authKey('pre-key', '')))
      .map((key) => Number(key.slice('pre-key-'.length)))
      .sort((a, b) => a - b)
  /** One upkeep pass over this store at time `now`. */
  const upkeep = (now: number) => upkeepCredentials({ store, keys, creds: auth.state.creds, now })
  return { store, auth, keys, preKeyIds, upkeep }
}

describe('credential store upkeep', () => {
  const now = 1_800_000_000_000

  it('of 20,000 pre-keys, drops only those both old and far below the counter', async () => {
    const s = await storeWithPreKeys(20_000, [
      { at: now - 40 * DAY, nextPreKeyId: 15_000 },
      { at: now - 10 * DAY, nextPreKeyId: 19_000 },
    ])
    await s.keys.get('pre-key', ['1', '20000']) // both cached now
    const result = await s.upkeep(now)
    expect(result.pruned.preKeys).toBe(14_999)
    const left = await s.preKeyIds()
    expect(left[0]).toBe(15_000) // minted less than 30 days ago: a peer may still hold it
    expect(left.at(-1)).toBe(20_000) // the current one (nextPreKeyId - 1), checked at each login
    expect(left).toHaveLength(5001)
    // Deleted through the key store: its cache does not bring a pruned key back.
    expect((await s.keys.get('pre-key', ['1']))['1']).toBeFalsy()
    expect((await s.keys.get('pre-key', ['20000']))['20000']).toBeTruthy()
    expect(result).toMatchObject(await s.store.usage())
  })

  it('keeps the newest pre-keys however old the counter notes are', async () => {
    const s = await storeWithPreKeys(20_000, [{ at: now - 90 * DAY, nextPreKeyId: 19_990 }])
    const result = await s.upkeep(now)
    const left = await s.preKeyIds()
    expect(left).toHaveLength(PRE_KEYS_KEPT_NEWEST)
    expect(left[0]).toBe(20_001 - PRE_KEYS_KEPT_NEWEST)
    expect(result.pruned.preKeys).toBe(20_000 - PRE_KEYS_KEPT_NEWEST)
  })

  it('prunes nothing until its notes prove keys are older than the minimum age, then notes the counter', async () => {
    const s = await storeWithPreKeys(3000, [{ at: now - 5 * DAY, nextPreKeyId: 2000 }])
    const result = await s.upkeep(now)
    expect(result.pruned.preKeys).toBe(0)
    expect(await s.preKeyIds()).toHaveLength(3000)
    const notes = JSON.parse((await s.store.get(UPKEEP_KEY))!.toString()) as { marks: unknown[] }
    expect(notes.marks).toEqual([
      { at: now - 5 * DAY, nextPreKeyId: 2000 },
      { at: now, nextPreKeyId: 3001 },
    ])
    // Thirty days after the counter read 3001, keys below it are that old; the newest stay.
    const later = now + PRE_KEY_MIN_AGE_MS
    const next = await s.upkeep(later)
    expect(next.pruned.preKeys).toBe(3000 - PRE_KEYS_KEPT_NEWEST)
    expect(await s.preKeyIds()).toHaveLength(PRE_KEYS_KEPT_NEWEST)
  })

  it('keeps its own notes bounded: one a day, back to the newest past the minimum age', async () => {
    const s = await storeWithPreKeys(10, [])
    for (let day = 0; day < 200; day++) {
      s.auth.state.creds.nextPreKeyId += 5
      await s.upkeep(now + day * DAY)
    }
    const notes = JSON.parse((await s.store.get(UPKEEP_KEY))!.toString()) as { marks: unknown[] }
    expect(notes.marks.length).toBeLessThanOrEqual(PRE_KEY_MIN_AGE_MS / DAY + 1)
  })

  it('starts its counter notes at the first upkeep: thirty days on, the keys minted before go', async () => {
    const s = await storeWithPreKeys(3000, undefined)
    expect((await s.upkeep(now)).pruned.preKeys).toBe(0)
    expect((await s.upkeep(now + PRE_KEY_MIN_AGE_MS)).pruned.preKeys).toBe(
      3000 - PRE_KEYS_KEPT_NEWEST,
    )
  })

  it('goes by the readable counter notes, in time order, whatever else the notes hold', async () => {
    const s = await storeWithPreKeys(3000, [
      null,
      'junk',
      { at: 'yesterday', nextPreKeyId: 2900 },
      { at: now - 40 * DAY, nextPreKeyId: 1000 },
      { at: now - 60 * DAY, nextPreKeyId: 500 }, // stored after a newer one
      { at: now - 35 * DAY, nextPreKeyId: 2.5 },
      { at: now - 33 * DAY },
    ])
    const result = await s.upkeep(now)
    // The newest good reading past the minimum age (40 days ago, counter 1000) sets the cut.
    expect(result.pruned.preKeys).toBe(999)
    expect((await s.preKeyIds())[0]).toBe(1000)
  })

  it('takes one counter reading a day, however often the account reconnects', async () => {
    const s = await storeWithPreKeys(10, undefined)
    for (let hour = 0; hour <= 72; hour++) {
      s.auth.state.creds.nextPreKeyId += 1
      await s.upkeep(now + hour * 3600_000)
    }
    const notes = JSON.parse((await s.store.get(UPKEEP_KEY))!.toString()) as { marks: unknown[] }
    // Three days of hourly reconnects: a reading at the start and about one a day after.
    expect(notes.marks.length).toBeGreaterThanOrEqual(3)
    expect(notes.marks.length).toBeLessThanOrEqual(4)
  })

  it('deletes old pre-keys a thousand at most per store write', async () => {
    const s = await storeWithPreKeys(5000, [{ at: now - 40 * DAY, nextPreKeyId: 3000 }])
    const sizes: number[] = []
    const write = s.store.write.bind(s.store)
    s.store.write = (changes) => {
      const list = [...changes]
      sizes.push(list.length)
      return write(list)
    }
    const result = await s.upkeep(now)
    expect(result.pruned.preKeys).toBe(2999)
    expect(await s.preKeyIds()).toHaveLength(5000 - 2999)
    // DELETE_BATCH: one write never carries tens of thousands of files.
    expect(Math.max(...sizes)).toBeLessThanOrEqual(1000)
  })

  it('drops trust tokens past their window, as Baileys does online', async () => {
    const store = new MemoryNamespace()
    const { state } = await useStoreAuthState(store, silentLogger)
    const seconds = Math.floor(Date.now() / 1000)
    const fresh = String(seconds)
    const expired = String(seconds - 60 * 86_400)
    await state.keys.set({
      tctoken: {
        'gone@lid': { token: Buffer.from([1]), timestamp: expired },
        'kept@lid': { token: Buffer.from([2]), timestamp: fresh },
        'sender@lid': { token: Buffer.from([3]), timestamp: expired, senderTimestamp: seconds },
        __index: { token: Buffer.from(JSON.stringify(['gone@lid', 'kept@lid', 'sender@lid'])) },
      },
    })
    const result = await upkeepCredentials({ store, keys: state.keys, creds: state.creds })
    expect(result.pruned.tcTokens).toBe(1)
    const left = await state.keys.get('tctoken', ['gone@lid', 'kept@lid', 'sender@lid', '__index'])
    expect(left['gone@lid']).toBeUndefined()
    expect(left['kept@lid']?.token).toEqual(Buffer.from([2]))
    expect(left['sender@lid']).toEqual({ token: Buffer.alloc(0), senderTimestamp: seconds })
    expect(JSON.parse(left.__index!.token.toString())).toEqual(['kept@lid', 'sender@lid'])
  })

  describe('of trust tokens', () => {
    const seconds = Math.floor(Date.now() / 1000)
    const fresh = String(seconds)
    const expired = String(seconds - 60 * 86_400)
    type TcToken = { token: Buffer; timestamp?: string; senderTimestamp?: number }

    /** Upkeep of an account holding `entries`, whose index lists `index` (the entries by default). */
    async function upkeepTcTokens(
      entries: Record<string, TcToken>,
      index: unknown = Object.keys(entries),
    ) {
      const store = new MemoryNamespace()
      const { state } = await useStoreAuthState(store, silentLogger)
      await state.keys.set({
        tctoken: { ...entries, __index: { token: Buffer.from(JSON.stringify(index)) } },
      })
      const result = await upkeepCredentials({ store, keys: state.keys, creds: state.creds })
      const left = await state.keys.get('tctoken', [...Object.keys(entries), '__index'])
      const { __index: after, ...tokens } = left
      return {
        pruned: result.pruned.tcTokens,
        tokens,
        index: JSON.parse(after!.token.toString()) as unknown,
      }
    }

    it('clears an expired peer token, keeping our fresh sender timestamp, though nothing else changed', async () => {
      const r = await upkeepTcTokens({
        'peer@lid': { token: Buffer.from([1]), timestamp: expired, senderTimestamp: seconds },
      })
      expect(r.tokens).toEqual({
        'peer@lid': { token: Buffer.alloc(0), senderTimestamp: seconds },
      })
      expect(r.index).toEqual(['peer@lid'])
      expect(r.pruned).toBe(0)
    })

    it('drops an entry once our sender timestamp has expired too', async () => {
      const old = seconds - 60 * 86_400
      const r = await upkeepTcTokens({
        'both@lid': { token: Buffer.from([1]), timestamp: expired, senderTimestamp: old },
        'sender@lid': { token: Buffer.alloc(0), senderTimestamp: old },
      })
      expect(r.tokens).toEqual({})
      expect(r.index).toEqual([])
      expect(r.pruned).toBe(2)
    })

    it('leaves fresh tokens and sender timestamps as they are', async () => {
      const entries = {
        'both@lid': { token: Buffer.from([1]), timestamp: fresh, senderTimestamp: seconds },
        'sender@lid': { token: Buffer.alloc(0), senderTimestamp: seconds },
        'peer@lid': { token: Buffer.from([2]), timestamp: fresh },
      }
      const r = await upkeepTcTokens(entries)
      expect(r.tokens).toEqual(entries)
      expect(r.index).toEqual(Object.keys(entries))
      expect(r.pruned).toBe(0)
    })

    it('forgets index entries whose token is gone, without counting them as pruned', async () => {
      const kept = { token: Buffer.from([2]), timestamp: fresh }
      const r = await upkeepTcTokens({ 'kept@lid': kept }, ['gone@lid', 'kept@lid'])
      expect(r.index).toEqual(['kept@lid']) // as Baileys does (messages-recv.js:1719-1722)
      expect(r.tokens).toEqual({ 'kept@lid': kept })
      expect(r.pruned).toBe(0)
    })

    it('skips index entries that name no peer: the index itself, non-strings', async () => {
      const kept = { token: Buffer.from([2]), timestamp: fresh }
      const r = await upkeepTcTokens({ 'kept@lid': kept }, ['__index', 42, 'kept@lid'])
      expect(r.tokens).toEqual({ 'kept@lid': kept })
      expect(r.pruned).toBe(0)
    })

    it('leaves an index it cannot read as it is, and writes none where there is none', async () => {
      const r = await upkeepTcTokens({}, { 'peer@lid': 1 })
      expect(r.index).toEqual({ 'peer@lid': 1 })
      expect(r.pruned).toBe(0)

      const store = new MemoryNamespace()
      const { state } = await useStoreAuthState(store, silentLogger)
      const result = await upkeepCredentials({ store, keys: state.keys, creds: state.creds })
      expect(result.pruned.tcTokens).toBe(0)
      expect(await store.keys(authKey('tctoken', ''))).toEqual([])
    })
  })

  it('runs before an account reconnects after a restart, logs the size and feeds the gauges', async () => {
    const first = directProvider()
    await linkPhone(first.provider, first.fake, first.session, first.calls)
    await first.provider.shutdown()
    const second = directProvider()
    await second.provider.resume({ ...second.session, store: first.store })
    await until(() => second.fake.sockets.length === 1)
    const [line] = second.log.find('WhatsApp credential store')
    const usage = await first.store.usage()
    expect(line?.fields).toMatchObject({
      session_id: 'acct',
      entries: usage.entries,
      bytes: usage.bytes,
    })
    expect(second.counted.gauges().credentials()).toEqual(usage)
    await second.provider.shutdown()
    expect(second.counted.gauges().credentials()).toEqual({ entries: 0, bytes: 0 })
  })
})

describe('when the upkeep runs', () => {
  it('once per UPKEEP_EVERY_MS, however often the account reconnects, counting nothing it did not prune', async () => {
    let clock = 1_760_000_000_000
    const t = directProvider({}, { now: () => clock })
    const phone = await linkPhone(t.provider, t.fake, t.session, t.calls)
    const upkeeps = () => t.log.find('WhatsApp credential store').length
    expect(upkeeps()).toBe(1) // before the connection that followed the scan
    phone.drop(428)
    await until(() => t.fake.sockets.length === 3)
    expect(upkeeps()).toBe(1)
    clock += UPKEEP_EVERY_MS
    t.fake.last().drop(428)
    await until(() => t.fake.sockets.length === 4)
    expect(upkeeps()).toBe(2)
    expect(Object.keys(t.counted.counts).filter((name) => name.startsWith('pruned:'))).toEqual([])
    await t.provider.shutdown()
  })

  it('that fails is logged, and the account connects all the same', async () => {
    const t = directProvider()
    await linkPhone(t.provider, t.fake, t.session, t.calls)
    await t.provider.shutdown()
    const failure = new Error('disk error')
    t.store.usage = async () => {
      throw failure
    }
    const later = directProvider()
    await later.provider.resume({ ...later.session, store: t.store })
    await until(() => later.fake.sockets.length === 1)
    expect(later.log.find('Could not tidy the WhatsApp credential store')).toEqual([
      {
        level: 'warn',
        message: 'Could not tidy the WhatsApp credential store',
        fields: { session_id: 'acct', error: failure },
      },
    ])
    await later.provider.shutdown()
  })
})

describe('the credentials backup (creds.bak)', () => {
  it('a verified backup is not worth a warning', async () => {
    const t = directProvider()
    const phone = await linkPhone(t.provider, t.fake, t.session, t.calls)
    phone.drop(428)
    await until(() => t.fake.sockets.length === 3)
    expect(t.log.entries.filter((e) => e.level === 'warn')).toEqual([])
    await t.provider.shutdown()
  })

  it('warns, and reconnects all the same, when the backup cannot be read back or taken', async () => {
    const t = directProvider()
    const phone = await linkPhone(t.provider, t.fake, t.session, t.calls)
    const get = t.store.get.bind(t.store)
    const failure = new Error('disk error')
    let backup: 'missing' | 'failing' = 'missing'
    t.store.get = async (key) => {
      if (key !== CREDS_BACKUP_KEY) return get(key)
      if (backup === 'failing') throw failure
      return undefined
    }
    phone.drop(428)
    await until(() => t.fake.sockets.length === 3)
    backup = 'failing'
    t.fake.last().drop(428)
    await until(() => t.fake.sockets.length === 4)
    expect(
      t.log.entries.filter((e) => e.level === 'warn').map((e) => [e.message, e.fields]),
    ).toEqual([
      ['The WhatsApp credentials backup was not verified', { session_id: 'acct' }],
      ['Could not back up the WhatsApp credentials', { session_id: 'acct', error: failure }],
      ['The WhatsApp credentials backup was not verified', { session_id: 'acct' }],
    ])
    await t.provider.shutdown()
  })

  it('is taken, verified, before each reconnect of a linked account', async () => {
    const t = directProvider()
    const phone = await linkPhone(t.provider, t.fake, t.session, t.calls)
    await t.store.write([[CREDS_BACKUP_KEY, null]])
    phone.drop(428)
    await until(() => t.fake.last() !== phone)
    const backup = parseCreds((await t.store.get(CREDS_BACKUP_KEY))!)
    expect(backup && isLinked(backup)).toBe(true)
    expect(backup?.me?.id).toBe(t.fake.last().config.auth.creds.me?.id)
    await t.provider.shutdown()
  })

  it('takes the place of creds that no longer parse, and the account resumes', async () => {
    const first = directProvider()
    const phone = await linkPhone(first.provider, first.fake, first.session, first.calls)
    phone.drop(428) // a reconnect takes the backup
    await until(() => first.fake.last() !== phone)
    await first.provider.shutdown()
    await first.store.write([[CREDS_KEY, Buffer.from('{"noiseKey": trunc')]])

    const second = directProvider()
    await second.provider.resume({ ...second.session, store: first.store })
    await until(() => second.fake.sockets.length === 1)
    expect(isLinked(second.fake.last().config.auth.creds)).toBe(true)
    expect(parseCreds((await first.store.get(CREDS_KEY))!)).toBeDefined()
    expect(
      second.log.find(
        'Stored WhatsApp credentials were unreadable; restored them from their backup',
      ),
    ).toHaveLength(1)
    await second.provider.shutdown()
  })

  it('is never used when the creds cannot be unsealed (a wrong data key is not damage)', async () => {
    const store = new MemoryNamespace()
    const linked = await useStoreAuthState(store, silentLogger)
    Object.assign(linked.state.creds, {
      me: { id: '34600111222:7@s.whatsapp.net' },
      account: { details: Buffer.from('x') },
    } satisfies Partial<AuthenticationCreds>)
    await linked.saveCreds()
    await linked.backupCreds()
    const get = store.get.bind(store)
    store.get = async (key) => {
      if (key === CREDS_KEY)
        throw new SealError('wrong_key', 'sealed with another data key', 'abcd')
      return get(key)
    }
    const writes = store.writes
    const t = directProvider()
    await expect(t.provider.resume({ ...t.session, store })).rejects.toBeInstanceOf(SealError)
    expect(store.writes).toBe(writes)
    expect(t.fake.sockets).toEqual([])
  })

  it('without a usable backup, damaged creds are reported and left alone', async () => {
    const store = new MemoryNamespace()
    await store.write([
      [CREDS_KEY, Buffer.from('not json')],
      [CREDS_BACKUP_KEY, Buffer.from(JSON.stringify({ not: 'creds' }))],
      [authKey('session', '1.0'), Buffer.from('"x"')],
    ])
    const writes = store.writes
    const t = directProvider()
    await expect(t.provider.resume({ ...t.session, store })).rejects.toBeInstanceOf(
      DamagedCredentialsError,
    )
    await expect(t.provider.inspect(store)).rejects.toBeInstanceOf(DamagedCredentialsError)
    expect(store.writes).toBe(writes)
    expect(t.of('disconnected')).toEqual([]) // which would delete the account's data
  })

  it('a hub keeps an account with damaged creds, as failed, its data untouched', async () => {
    const first = await startBaileysHub()
    await first.linkVia('damaged')
    await first.t.close()
    const credentials = await credentialsOf(first.t.dataDir, 'damaged')
    await credentials.write([
      [CREDS_KEY, Buffer.from('garbage')],
      [CREDS_BACKUP_KEY, null],
    ])
    const { t } = await startBaileysHub({}, { dataDir: first.t.dataDir })
    const socket = await t.connect()
    expect(await socket.emitWithAck('get_status', { session_id: 'damaged' })).toMatchObject({
      status: 'disconnected',
      reason: 'failed',
    })
    expect(await storedSessionIds(t.dataDir)).toContain('damaged')
  })

  it('is written only for a complete link, and read back to check it', async () => {
    const store = new MemoryNamespace()
    const auth = await useStoreAuthState(store, silentLogger)
    expect(await auth.backupCreds()).toBe(false) // not linked: nothing worth keeping
    expect(await store.get(CREDS_BACKUP_KEY)).toBeUndefined()
    Object.assign(auth.state.creds, initAuthCreds(), {
      me: { id: '34600111222:7@s.whatsapp.net' },
      account: { details: Buffer.from('x') },
    })
    const write = store.write.bind(store)
    store.write = (changes) =>
      write(
        [...changes].map(([key, value]) => [
          key,
          key === CREDS_BACKUP_KEY ? Buffer.from('lost') : value,
        ]),
      )
    expect(await auth.backupCreds()).toBe(false)
    store.write = write
    expect(await auth.backupCreds()).toBe(true)
  })
})
