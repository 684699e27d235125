import { DisconnectReason, proto } from '@whiskeysockets/baileys'
import { describe, expect, it } from 'vitest'
import { silentLogger } from '../../server/logger'
import { BoundedCache, CACHE_LIMITS } from '../../server/providers/baileys-caches'
import { SENT_PREFIX, SentMessages } from '../../server/providers/baileys-message-store'
import { directProvider, linkPhone, type FakeWASocket } from '../helpers/fake-baileys'
import { recordingLogger } from '../helpers/logger'
import { MemoryNamespace } from '../helpers/memory-store'
import { until } from '../main/launch'

const text = (message: proto.IMessage | undefined) => message?.extendedTextMessage?.text

/** Drops the connection and waits for the next socket to open. */
async function reconnect(t: ReturnType<typeof directProvider>, phone: FakeWASocket) {
  phone.drop(DisconnectReason.connectionLost)
  await until(() => t.fake.last() !== phone)
  t.fake.last().open()
  return t.fake.last()
}

describe('messages we sent, for retry requests', () => {
  it('re-sends a message a peer asks for after a reconnect emptied the socket cache', async () => {
    const t = directProvider()
    const phone = await linkPhone(t.provider, t.fake, t.session, t.calls)
    const { messageId } = await t.provider.sendMessage('acct', '34600000001', 'hola')
    const next = await reconnect(t, phone)
    await next.retryReceipt({ id: messageId, remoteJid: '34600000001@s.whatsapp.net' })
    expect(next.resent.map((r) => [r.id, text(r.message)])).toEqual([[messageId, 'hola']])
    await t.provider.shutdown()
  })

  it('looks messages up by id, whatever address the retry names (a LID)', async () => {
    const t = directProvider()
    const phone = await linkPhone(t.provider, t.fake, t.session, t.calls)
    const { messageId } = await t.provider.sendMessage('acct', '34600000001', 'por id')
    const next = await reconnect(t, phone)
    await next.retryReceipt({ id: messageId, remoteJid: '123456789:2@lid' })
    expect(next.resent.map((r) => text(r.message))).toEqual(['por id'])
    await t.provider.shutdown()
  })

  it('keeps them with the credentials: a restarted hub still has them', async () => {
    const first = directProvider()
    await linkPhone(first.provider, first.fake, first.session, first.calls)
    const { messageId } = await first.provider.sendMessage('acct', '34600000001', 'persisted')
    await first.provider.shutdown()
    expect(await first.store.keys(SENT_PREFIX)).toEqual([SENT_PREFIX + messageId])

    const second = directProvider()
    await second.provider.resume({ ...second.session, store: first.store })
    await until(() => second.fake.sockets.length === 1)
    second.fake.last().open()
    await second.fake
      .last()
      .retryReceipt({ id: messageId, remoteJid: '34600000001@s.whatsapp.net' })
    expect(second.fake.last().resent.map((r) => text(r.message))).toEqual(['persisted'])
    await second.provider.shutdown()
  })

  it('answers undefined for a message it does not have, never an empty message', async () => {
    const t = directProvider()
    const phone = await linkPhone(t.provider, t.fake, t.session, t.calls)
    const key = { remoteJid: '34600000001@s.whatsapp.net', fromMe: true, id: 'NEVER-SENT' }
    expect(await phone.config.getMessage!(key)).toBeUndefined()
    await phone.retryReceipt({ id: 'NEVER-SENT', remoteJid: key.remoteJid })
    expect(phone.resent).toEqual([])
    await t.provider.shutdown()
  })

  it('keeps retry counts across reconnects, so a flapping link does not re-send without end', async () => {
    const t = directProvider()
    let phone = await linkPhone(t.provider, t.fake, t.session, t.calls)
    const { messageId } = await t.provider.sendMessage('acct', '34600000001', 'once')
    const resends = () => t.fake.sockets.flatMap((s) => s.resent).length
    const retry = { id: messageId, remoteJid: '34600000001@s.whatsapp.net' }
    // Baileys counts twice per receipt (messages-recv.js:1209-1212 and :1142-1143): with
    // maxMsgRetryCount 5 a message is re-sent twice, then never again.
    await phone.retryReceipt(retry)
    await phone.retryReceipt(retry)
    expect(resends()).toBe(2)
    for (let i = 0; i < 3; i++) {
      phone = await reconnect(t, phone)
      await phone.retryReceipt(retry)
      await phone.retryReceipt(retry)
    }
    expect(resends()).toBe(2)
    await t.provider.shutdown()
  })

  it('gives every socket of an account the same caches, and each account its own', async () => {
    const t = directProvider()
    const phone = await linkPhone(t.provider, t.fake, t.session, t.calls)
    const next = await reconnect(t, phone)
    for (const cache of [
      'msgRetryCounterCache',
      'userDevicesCache',
      'callOfferCache',
      'placeholderResendCache',
    ] as const) {
      expect(next.config[cache]).toBeDefined()
      expect(next.config[cache]).toBe(phone.config[cache])
    }
    const other = await linkPhone(
      t.provider,
      t.fake,
      { ...t.session, id: 'other', store: new MemoryNamespace() },
      t.calls,
    )
    expect(other.config.msgRetryCounterCache).not.toBe(phone.config.msgRetryCounterCache)
    await t.provider.shutdown()
  })

  it('keeps at most SENT_MESSAGES_MAX, the oldest going first', async () => {
    const t = directProvider({ SENT_MESSAGES_MAX: '3' })
    await linkPhone(t.provider, t.fake, t.session, t.calls)
    const ids: string[] = []
    for (const word of ['uno', 'dos', 'tres', 'cuatro']) {
      ids.push((await t.provider.sendMessage('acct', '34600000001', word)).messageId)
    }
    expect((await t.store.keys(SENT_PREFIX)).sort()).toEqual(
      ids
        .slice(1)
        .map((id) => SENT_PREFIX + id)
        .sort(),
    )
    const getMessage = t.fake.last().config.getMessage!
    const key = (id: string) => ({ remoteJid: '34600000001@s.whatsapp.net', fromMe: true, id })
    expect(await getMessage(key(ids[0]!))).toBeUndefined()
    expect(text(await getMessage(key(ids[3]!)))).toBe('cuatro')
    await t.provider.shutdown()
  })
})

describe('SentMessages', () => {
  const message = (words: string) => proto.Message.fromObject({ conversation: words })

  it('forgets messages older than the age limit, on disk too', async () => {
    let now = 1_000_000
    const store = new MemoryNamespace()
    const sent = new SentMessages(store, { max: 10, maxAgeMs: 1000 }, silentLogger, () => now)
    await sent.remember('A', message('old'))
    now += 600
    await sent.remember('B', message('newer'))
    now += 500 // A is 1100 ms old, B 500 ms
    expect(await sent.get('A')).toBeUndefined()
    expect((await sent.get('B'))?.conversation).toBe('newer')
    expect(await store.keys(SENT_PREFIX)).toEqual([`${SENT_PREFIX}B`])
  })

  it('loads lazily, in the order sent, dropping what is too old or unreadable', async () => {
    const store = new MemoryNamespace()
    const now = 5_000_000
    const value = (at: number, words: string) =>
      Buffer.from(
        JSON.stringify({
          at,
          message: Buffer.from(proto.Message.encode(message(words)).finish()).toString('base64'),
        }),
      )
    await store.write([
      [`${SENT_PREFIX}NEW`, value(now - 10, 'new')],
      [`${SENT_PREFIX}MID`, value(now - 20, 'mid')],
      [`${SENT_PREFIX}OLD`, value(now - 30, 'old')],
      [`${SENT_PREFIX}STALE`, value(now - 5000, 'stale')],
      [`${SENT_PREFIX}BROKEN`, Buffer.from('{not json')],
    ])
    const sent = new SentMessages(store, { max: 2, maxAgeMs: 1000 }, silentLogger, () => now)
    expect(sent.size).toBe(0) // nothing loaded before first use
    expect((await sent.get('NEW'))?.conversation).toBe('new')
    expect(await sent.get('OLD')).toBeUndefined() // over the count: the oldest went
    expect((await store.keys(SENT_PREFIX)).sort()).toEqual([
      `${SENT_PREFIX}MID`,
      `${SENT_PREFIX}NEW`,
    ])
    expect(sent.size).toBe(2)
  })
  it('logs a message it could not keep, without failing the send', async () => {
    const store = new MemoryNamespace()
    const failure = new Error('disk full')
    store.write = () => Promise.reject(failure)
    const log = recordingLogger()
    const sent = new SentMessages(store, { max: 10, maxAgeMs: 1000 }, log.logger)
    await expect(sent.remember('A', message('lost'))).resolves.toBeUndefined()
    expect(log.entries).toEqual([
      {
        level: 'warn',
        message: 'Could not keep a sent message for retries',
        fields: { error: failure },
      },
    ])
  })

  it('answers undefined while the store cannot be read, and reads it again once it can', async () => {
    const now = 1_000_000
    const limits = { max: 10, maxAgeMs: 1000 }
    const store = new MemoryNamespace()
    await new SentMessages(store, limits, silentLogger, () => now).remember('A', message('kept'))
    const keys = store.keys.bind(store)
    const failure = new Error('EIO')
    store.keys = () => Promise.reject(failure)
    const log = recordingLogger()
    const sent = new SentMessages(store, limits, log.logger, () => now)
    expect(await sent.get('A')).toBeUndefined()
    expect(log.entries).toEqual([
      {
        level: 'warn',
        message: 'Could not read a sent message for a retry',
        fields: { error: failure },
      },
    ])
    store.keys = keys // the disk is back: the failed read is not remembered
    expect((await sent.get('A'))?.conversation).toBe('kept')
  })

  it('looks messages up without writing to the store, unless one must be forgotten', async () => {
    // Baileys asks at every retry receipt, and a write on disk syncs the account's folder.
    let now = 1_000_000
    const limits = { max: 10, maxAgeMs: 1000 }
    const store = new MemoryNamespace()
    const first = new SentMessages(store, limits, silentLogger, () => now)
    await first.remember('A', message('a'))
    await first.remember('B', message('b'))
    const writes = store.writes
    expect((await first.get('A'))?.conversation).toBe('a')
    const restarted = new SentMessages(store, limits, silentLogger, () => now)
    expect((await restarted.get('B'))?.conversation).toBe('b')
    expect(await restarted.get('C')).toBeUndefined()
    expect(store.writes).toBe(writes)
    now += 2000
    expect(await restarted.get('A')).toBeUndefined()
    expect(store.writes).toBe(writes + 1) // both too old now, forgotten in one write
    expect(await store.keys(SENT_PREFIX)).toEqual([])
  })

  it('deletes stored records it cannot use when it loads, so they do not pile up', async () => {
    const now = 5_000_000
    const store = new MemoryNamespace()
    const encoded = Buffer.from(proto.Message.encode(message('ok')).finish()).toString('base64')
    const record = (value: unknown) => Buffer.from(JSON.stringify(value))
    await store.write([
      [`${SENT_PREFIX}GOOD`, record({ at: now - 10, message: encoded })],
      [`${SENT_PREFIX}NUMBER`, record({ at: now - 10, message: 7 })],
      [`${SENT_PREFIX}TEXT-TIME`, record({ at: String(now - 10), message: encoded })],
      [`${SENT_PREFIX}NO-TIME`, record({ message: encoded })],
    ])
    const sent = new SentMessages(store, { max: 10, maxAgeMs: 1000 }, silentLogger, () => now)
    expect((await sent.get('GOOD'))?.conversation).toBe('ok')
    expect(await store.keys(SENT_PREFIX)).toEqual([`${SENT_PREFIX}GOOD`])
    expect(sent.size).toBe(1)
    expect(await sent.get('TEXT-TIME')).toBeUndefined()
  })
})

describe('BoundedCache', () => {
  it('holds at most maxEntries, dropping the least recently written', () => {
    const cache = new BoundedCache(3, 60_000)
    for (const key of ['a', 'b', 'c']) cache.set(key, key)
    cache.set('a', 'A') // rewritten: now the newest
    cache.set('d', 'd')
    expect(cache.size).toBe(3)
    expect(cache.get('b')).toBeUndefined()
    expect([cache.get('a'), cache.get('c'), cache.get('d')]).toEqual(['A', 'c', 'd'])
  })

  it('forgets entries older than their lifetime', () => {
    let now = 0
    const cache = new BoundedCache(10, 1000, () => now)
    cache.set('retry', 3)
    now = 999
    expect(cache.get<number>('retry')).toBe(3)
    now = 1000
    expect(cache.get('retry')).toBeUndefined()
    expect(cache.size).toBe(0)
  })

  it('stays at its limit under a storm of keys', () => {
    const cache = new BoundedCache(CACHE_LIMITS.msgRetry, 3_600_000)
    for (let i = 0; i < CACHE_LIMITS.msgRetry * 2; i++) cache.set(`MSG${i}:peer@s.whatsapp.net`, 1)
    expect(cache.size).toBe(CACHE_LIMITS.msgRetry)
  })
})
