import { getCompanionPlatformId } from '@whiskeysockets/baileys'
import { describe, expect, it } from 'vitest'
import type { DisconnectedEvent, PairingCodeEvent, QrCodeEvent } from '../../server/protocol'
import { BROWSER, qrTiming } from '../../server/providers/baileys'
import {
  CREDS_KEY,
  parseCreds,
  readLinkedCreds,
  useStoreAuthState,
} from '../../server/providers/baileys-auth-store'
import { silentLogger } from '../../server/logger'
import { directProvider, scanPhone, startBaileysHub } from '../helpers/fake-baileys'
import { collect, nextEvent, sleep } from '../helpers/hub'
import { until } from '../main/launch'

/** A provider linking its session by phone number (a pairing code), its first socket up. */
async function linkingByPhone() {
  const t = directProvider()
  await t.provider.link(t.session, { phoneNumber: '34600111222' })
  await until(() => t.fake.sockets.length === 1)
  return t
}

describe('pairing codes', () => {
  it('presents itself as a browser WhatsApp accepts for pairing codes', async () => {
    const t = directProvider()
    await t.provider.link(t.session, {})
    await until(() => t.fake.sockets.length === 1)
    const { browser } = t.fake.last().config
    expect(browser).toEqual(BROWSER)
    // A browser name Baileys does not know becomes OTHER_WEB_CLIENT (9) in the pairing request.
    expect(getCompanionPlatformId(browser!)).not.toBe('9')
    t.fake.last().pairDevice()
    await until(() => t.fake.last().qrs.length === 1)
    expect(t.fake.last().qrs[0]!.split(',').at(-1)).toBe(getCompanionPlatformId(browser!))
    await t.provider.shutdown()
  })

  it('takes a number as people write it, and explains a bad one', async () => {
    const { t, fake } = await startBaileysHub()
    const socket = await t.connect()
    const bad = await socket.emitWithAck('get_qr', {
      session_id: 'pair',
      phone_number: '0612 345 678',
    })
    expect(bad).toMatchObject({ ok: false, error: { code: 'invalid_payload' } })
    expect(bad.error.message).toMatch(/country code first/)
    expect(fake.sockets).toHaveLength(0)

    const pairing = nextEvent<PairingCodeEvent>(socket, 'pairing_code')
    await socket.emitWithAck('get_qr', { session_id: 'pair', phone_number: '+34 600-111 (222)' })
    await until(() => fake.sockets.length === 1)
    fake.last().pairDevice()
    const code = await pairing
    expect(code.code).toBe('ABCD2345')
    expect(fake.last().config.auth.creds.me?.id).toBe('34600111222@s.whatsapp.net')
    // Good while the connection's QR rotation lasts: 60 s + 5 × 20 s for six refs.
    expect(Date.parse(code.expires_at) - Date.now()).toBeGreaterThan(150_000)
    expect(Date.parse(code.expires_at) - Date.now()).toBeLessThanOrEqual(160_000)
  })

  it('a code entered on the phone links the account', async () => {
    const t = await linkingByPhone()
    t.fake.last().pairDevice()
    await until(() => t.of('pairingCode').length === 1)
    t.fake.last().pairingEntered()
    await until(() => t.fake.sockets.length === 2)
    t.fake.last().open()
    await until(() => t.of('authenticated').length === 1)
    expect(t.of('authenticated')[0]![0]).toMatchObject({ id: '34600111222@s.whatsapp.net' })
    await t.provider.shutdown()
  })

  it('starts clean after a drop abandons a pairing whose creds were saved', async () => {
    const t = await linkingByPhone()
    const first = t.fake.last()
    first.pairDevice()
    await until(() => t.of('pairingCode').length === 1)
    expect(parseCreds((await t.store.get(CREDS_KEY))!)?.me?.id).toBe('34600111222@s.whatsapp.net')
    first.drop(428, 'Connection Terminated')
    await until(() => t.fake.sockets.length === 2)
    // Those creds would log in as a device WhatsApp never registered (socket.js:320-327).
    expect(t.fake.last().config.auth.creds.me).toBeUndefined()
    expect(parseCreds((await t.store.get(CREDS_KEY))!)?.me).toBeUndefined()
    t.fake.last().pairDevice()
    await until(() => t.of('pairingCode').length === 2) // a new code for the new creds
    await t.provider.shutdown()
  })

  it('logs an abandoned pairing it could not wipe, and tries again', async () => {
    const t = await linkingByPhone()
    const first = t.fake.last()
    first.pairDevice()
    await until(() => t.of('pairingCode').length === 1)
    const failure = new Error('disk full')
    t.store.write = async () => {
      throw failure
    }
    first.drop(428, 'Connection Terminated')
    await until(() => t.fake.sockets.length === 2)
    expect(t.log.find('Could not reset abandoned pairing credentials')).toEqual([
      {
        level: 'error',
        message: 'Could not reset abandoned pairing credentials',
        fields: { session_id: 'acct', error: failure },
      },
    ])
    await t.provider.shutdown()
  })

  it('asks again after a drop cut the code request short, instead of giving up', async () => {
    const t = await linkingByPhone()
    const first = t.fake.last()
    const request = first.requestPairingCode.bind(first)
    first.requestPairingCode = async (phone) => {
      first.drop(428, 'Connection Terminated')
      return request(phone) // Baileys: 'Connection Closed', the websocket is gone
    }
    first.pairDevice()
    await until(() => t.fake.sockets.length === 2)
    t.fake.last().pairDevice()
    await until(() => t.of('pairingCode').length === 1)
    expect(t.of('disconnected')).toEqual([])
    await t.provider.shutdown()
  })

  it('asks for one code per connection, however many QRs WhatsApp rotates through', async () => {
    const t = await linkingByPhone()
    const phone = t.fake.last()
    let requests = 0
    const request = phone.requestPairingCode.bind(phone)
    phone.requestPairingCode = async (digits) => {
      requests += 1
      return request(digits)
    }
    phone.pairDevice()
    await until(() => t.of('pairingCode').length === 1)
    phone.nextQr()
    phone.nextQr()
    await sleep(50)
    expect(requests).toBe(1)
    expect(t.of('pairingCode')).toHaveLength(1)
    expect(t.of('qr')).toEqual([])
    await t.provider.shutdown()
  })

  it('a refused code request ends the link as failed, says why, and keeps none of its creds', async () => {
    const t = await linkingByPhone()
    t.fake.last().pairingWorks = false
    t.fake.last().pairDevice()
    await until(() => t.of('disconnected').length === 1)
    expect(t.of('disconnected')).toEqual([
      ['failed', { message: 'WhatsApp refused the pairing code request' }],
    ])
    expect(t.log.find('WhatsApp refused the pairing code request')).toEqual([
      {
        level: 'warn',
        message: 'WhatsApp refused the pairing code request',
        fields: { session_id: 'acct', error: expect.any(Error) },
      },
    ])
    expect(t.fake.last().live).toBe(false)
    await sleep(50)
    const stored = await t.store.get(CREDS_KEY)
    expect(stored && parseCreds(stored)?.me).toBeUndefined()
  })

  it('a new link ignores what an abandoned attempt left in the store', async () => {
    const t = directProvider()
    const leftover = await useStoreAuthState(t.store, silentLogger)
    leftover.state.creds.me = { id: '34600111222@s.whatsapp.net', name: '~' }
    await leftover.saveCreds()
    await leftover.state.keys.set({
      'pre-key': { '1': { public: Buffer.alloc(32), private: Buffer.alloc(32) } },
    })
    await t.provider.link(t.session, {})
    await until(() => t.fake.sockets.length === 1)
    expect(t.fake.last().config.auth.creds.me).toBeUndefined()
    expect(await t.store.keys('pre-key-')).toEqual([])
    await t.provider.shutdown()
  })
})

describe('QR codes as Baileys shows them', () => {
  it("announces Baileys' own 60 s / 20 s by default, and leaves its timer alone", async () => {
    const t = directProvider()
    await t.provider.link(t.session, {})
    await until(() => t.fake.sockets.length === 1)
    expect(t.fake.last().config.qrTimeout).toBeUndefined()
    t.fake.last().pairDevice()
    await until(() => t.of('qr').length === 1)
    t.fake.last().nextQr()
    await until(() => t.of('qr').length === 2)
    expect(t.of('qr').map(([qr]) => [qr.ttlMs, qr.attempt, qr.attemptsMax])).toEqual([
      [60_000, 1, 6],
      [20_000, 2, 6],
    ])
    await t.provider.shutdown()
  })

  it('passes one lifetime for every QR when QR_TTL_FIRST_MS equals QR_TTL_MS', async () => {
    const t = directProvider({ QR_TTL_FIRST_MS: '150', QR_TTL_MS: '150' })
    await t.provider.link(t.session, {})
    await until(() => t.fake.sockets.length === 1)
    expect(t.fake.last().config.qrTimeout).toBe(150)
    t.fake.last().pairDevice()
    await until(() => t.of('qr').length === 2) // Baileys' timer rotated it
    expect(t.of('qr').map(([qr]) => qr.ttlMs)).toEqual([150, 150])
    await t.provider.shutdown()
  })

  it('announces 60 s / 20 s, with a warning, for lifetimes Baileys cannot honour', () => {
    expect(qrTiming({ qrTtlFirstMs: 30_000, qrTtlMs: 10_000 })).toEqual({
      firstMs: 60_000,
      laterMs: 20_000,
      honoured: false,
    })
    const t = directProvider({ QR_TTL_FIRST_MS: '30000', QR_TTL_MS: '10000' })
    expect(
      t.log.entries.filter((e) => e.level === 'warn').map((e) => [e.message, e.fields]),
    ).toEqual([
      [
        expect.stringMatching(
          /QR codes last 60 s then 20 s each, unless QR_TTL_FIRST_MS equals QR_TTL_MS/,
        ),
        { qr_ttl_first_ms: 30_000, qr_ttl_ms: 10_000 },
      ],
    ])
  })

  it('honours what Baileys can do, without a warning: one lifetime for all, or its own 60 s / 20 s', () => {
    expect(qrTiming({ qrTtlFirstMs: 150, qrTtlMs: 150 })).toEqual({
      qrTimeout: 150,
      firstMs: 150,
      laterMs: 150,
      honoured: true,
    })
    expect(qrTiming({ qrTtlFirstMs: 60_000, qrTtlMs: 20_000 })).toEqual({
      firstMs: 60_000,
      laterMs: 20_000,
      honoured: true,
    })
    // Either one off Baileys' own is not what it will do.
    expect(qrTiming({ qrTtlFirstMs: 60_000, qrTtlMs: 10_000 }).honoured).toBe(false)
    expect(qrTiming({ qrTtlFirstMs: 30_000, qrTtlMs: 20_000 }).honoured).toBe(false)
    const envs: Record<string, string>[] = [{}, { QR_TTL_FIRST_MS: '150', QR_TTL_MS: '150' }]
    for (const env of envs) {
      expect(directProvider(env).log.entries.filter((e) => e.level === 'warn')).toEqual([])
    }
  })

  it('stores the link a scan made at once, before WhatsApp reopens the connection', async () => {
    const t = directProvider()
    await scanPhone(t.provider, t.fake, t.session)
    await until(async () => (await readLinkedCreds(t.store)) !== undefined, 1000)
    expect((await readLinkedCreds(t.store))?.me?.id).toBe('34600111222:7@s.whatsapp.net')
    expect(t.of('authenticated')).toEqual([])
    await t.provider.shutdown()
  })

  it('names a linked account without a name by its number', async () => {
    const t = directProvider()
    await t.provider.link(t.session, {})
    await until(() => t.fake.sockets.length === 1)
    t.fake.last().pairDevice()
    await until(() => t.fake.last().qrs.length === 1)
    t.fake.last().scanned({ id: '34600111222:7@s.whatsapp.net' })
    await until(() => t.fake.sockets.length === 2)
    t.fake.last().open({ id: '34600111222:7@s.whatsapp.net' })
    await until(() => t.of('authenticated').length === 1)
    expect(t.of('authenticated')[0]).toEqual([
      { id: '34600111222@s.whatsapp.net', name: '+34600111222' },
    ])
    await t.provider.shutdown()
  })

  it('ends the link with qr_timeout after QR_MAX codes, whatever the refs', async () => {
    const { t, fake } = await startBaileysHub({ QR_MAX: '3' })
    const socket = await t.connect()
    const qrs = collect<QrCodeEvent>(socket, 'qr_code')
    const ended = nextEvent<DisconnectedEvent>(socket, 'disconnected')
    await socket.emitWithAck('get_qr', { session_id: 'max' })
    await until(() => fake.sockets.length === 1)
    const phone = fake.last()
    phone.pairDevice() // six refs
    for (let shown = 1; shown < 3; shown++) {
      await until(() => qrs.length === shown)
      phone.nextQr()
    }
    await until(() => qrs.length === 3)
    expect(qrs.map((qr) => [qr.attempt, qr.attempts_max])).toEqual([
      [1, 3],
      [2, 3],
      [3, 3],
    ])
    phone.nextQr() // the third code's time is up
    expect(await ended).toMatchObject({ reason: 'qr_timeout' })
    expect(phone.live).toBe(false)
    expect(qrs).toHaveLength(3)
  })

  it('announces as many attempts as WhatsApp sent refs, and ends when they run out', async () => {
    const t = directProvider()
    await t.provider.link(t.session, {})
    await until(() => t.fake.sockets.length === 1)
    const phone = t.fake.last()
    phone.pairDevice(['only-1', 'only-2'])
    await until(() => t.of('qr').length === 1)
    phone.nextQr()
    await until(() => t.of('qr').length === 2)
    expect(t.of('qr').map(([qr]) => qr.attemptsMax)).toEqual([2, 2])
    phone.nextQr() // Baileys: 'QR refs attempts ended' (408)
    await until(() => t.of('disconnected').length === 1)
    expect(t.of('disconnected')[0]).toEqual(['qr_timeout', { code: 408 }])
  })

  it('keeps counting across a reconnect while linking', async () => {
    const t = directProvider()
    await t.provider.link(t.session, {})
    await until(() => t.fake.sockets.length === 1)
    const first = t.fake.last()
    first.pairDevice()
    await until(() => t.of('qr').length === 1)
    first.nextQr()
    await until(() => t.of('qr').length === 2)
    first.drop(428, 'Connection Terminated')
    await until(() => t.fake.sockets.length === 2)
    t.fake.last().pairDevice()
    await until(() => t.of('qr').length === 3)
    expect(t.of('qr').map(([qr]) => [qr.attempt, qr.attemptsMax, qr.ttlMs])).toEqual([
      [1, 6, 60_000],
      [2, 6, 20_000],
      [3, 6, 60_000], // a new connection's first QR lives 60 s again (socket.js:709)
    ])
    await t.provider.shutdown()
  })
})
