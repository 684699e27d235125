import { type SignalDataSet, type WAMessage } from '@whiskeysockets/baileys'
import { describe, expect, it } from 'vitest'
import type { MessageEvent } from '../../server/protocol'
import { authKey, useStoreAuthState } from '../../server/providers/baileys-auth-store'
import { loadConfig } from '../../server/config'

/** INBOX_LOOKUPS_MAX's default. */
const INBOX_LOOKUPS_MAX = loadConfig({}).inboxLookupsMax
import type { IncomingMessage } from '../../server/providers/provider'
import { silentLogger } from '../../server/logger'
import { directProvider, linkPhone, startBaileysHub, textMessage } from '../helpers/fake-baileys'
import { collect } from '../helpers/hub'
import { MemoryNamespace } from '../helpers/memory-store'
import { until } from '../main/launch'

const PN = '34600111333@s.whatsapp.net'
const LID = '1234567@lid'

async function linkedWithMapping() {
  const t = directProvider()
  const phone = await linkPhone(t.provider, t.fake, t.session, t.calls)
  await phone.signalRepository.lidMapping.storeLIDPNMappings([{ lid: LID, pn: PN }])
  const messages = () => t.of('message').map(([message]) => message)
  return { ...t, phone, messages }
}

describe('LID addressing of incoming messages', () => {
  it('carries both addresses the key gives (remoteJidAlt), the phone form as from', async () => {
    const t = await linkedWithMapping()
    t.phone.receive([
      textMessage('999000111@lid', 'hola', { remoteJidAlt: '34600999888@s.whatsapp.net' }),
    ])
    await until(() => t.messages().length === 1)
    expect(t.messages()[0]).toMatchObject({
      from: '34600999888@s.whatsapp.net',
      fromPn: '34600999888@s.whatsapp.net',
      fromLid: '999000111@lid',
    })
    await t.provider.shutdown()
  })

  it("fills in the other address from Baileys' LID mapping, both ways", async () => {
    const t = await linkedWithMapping()
    t.phone.receive([textMessage('1234567:4@lid', 'by lid')])
    t.phone.receive([textMessage(PN, 'by phone')])
    await until(() => t.messages().length === 2)
    expect(t.messages().map((m) => [m.text, m.from, m.fromPn, m.fromLid])).toEqual([
      ['by lid', PN, PN, LID],
      ['by phone', PN, PN, LID],
    ])
    await t.provider.shutdown()
  })

  it('in a group, from is the group and the addresses are the member who wrote', async () => {
    const t = await linkedWithMapping()
    t.phone.receive([
      textMessage('120363000000000001@g.us', 'en grupo', {
        participant: '1234567:2@lid',
        participantAlt: PN,
      }),
    ])
    await until(() => t.messages().length === 1)
    expect(t.messages()[0]).toMatchObject({
      from: '120363000000000001@g.us',
      fromPn: PN,
      fromLid: LID,
    })
    await t.provider.shutdown()
  })

  it('leaves out what nobody knows', async () => {
    const t = await linkedWithMapping()
    t.phone.receive([textMessage('555444333@lid', 'stranger')])
    await until(() => t.messages().length === 1)
    const [message] = t.messages() as [IncomingMessage]
    expect(message.from).toBe('555444333@lid')
    expect(message.fromLid).toBe('555444333@lid')
    expect('fromPn' in message).toBe(false)
    await t.provider.shutdown()
  })

  it('delivers in the order received even when a lookup is slow', async () => {
    const t = await linkedWithMapping()
    let release = () => {}
    const gate = new Promise<void>((resolve) => (release = resolve))
    const getMany = t.store.getMany.bind(t.store)
    t.store.getMany = async (keys) => {
      if (keys.some((key) => key.startsWith('lid-mapping-'))) await gate
      return getMany(keys)
    }
    t.phone.receive([textMessage('34600000001@s.whatsapp.net', 'first, looked up')])
    t.phone.receive([
      textMessage('34600000002@s.whatsapp.net', 'second', { remoteJidAlt: '42@lid' }),
    ])
    await new Promise((resolve) => setTimeout(resolve, 30))
    expect(t.messages()).toEqual([])
    release()
    await until(() => t.messages().length === 2)
    expect(t.messages().map((m) => m.text)).toEqual(['first, looked up', 'second'])
    await t.provider.shutdown()
  })

  it(`looks up at most ${INBOX_LOOKUPS_MAX} senders at once; later messages go without`, async () => {
    const t = await linkedWithMapping()
    let release = () => {}
    const gate = new Promise<void>((resolve) => (release = resolve))
    const getMany = t.store.getMany.bind(t.store)
    t.store.getMany = async (keys) => {
      await gate
      return getMany(keys)
    }
    const total = INBOX_LOOKUPS_MAX + 20
    const messages: WAMessage[] = []
    for (let i = 0; i < total; i++) messages.push(textMessage('1234567:1@lid', `m${i}`))
    t.phone.receive(messages)
    expect(t.counted.gauges().memory().inbox).toBe(total)
    release()
    await until(() => t.messages().length === total)
    const looked = t.messages().map((m) => m.fromPn === PN)
    expect(looked.slice(0, INBOX_LOOKUPS_MAX).every(Boolean)).toBe(true)
    expect(looked.slice(INBOX_LOOKUPS_MAX).some(Boolean)).toBe(false)
    expect(t.messages().map((m) => m.text)).toEqual(messages.map((m) => m.message?.conversation))
    expect(t.counted.gauges().memory().inbox).toBe(0)
    await t.provider.shutdown()
  })

  it('reaches clients as from, from_pn and from_lid', async () => {
    const { t, fake, linkVia } = await startBaileysHub()
    const { socket, phone } = await linkVia('lid')
    const events = collect<MessageEvent>(socket, 'message')
    phone.receive([
      textMessage('999000111@lid', 'hola', { remoteJidAlt: '34600999888@s.whatsapp.net' }),
    ])
    await until(() => events.length === 1)
    expect(events[0]).toMatchObject({
      from: '34600999888@s.whatsapp.net',
      from_pn: '34600999888@s.whatsapp.net',
      from_lid: '999000111@lid',
    })
    expect(fake.sockets.length).toBeGreaterThan(0)
    await t.close()
  })
})

describe('the credential store keeps what LID addressing needs', () => {
  it('persists lid-mapping, device-list and tctoken values as Baileys writes them', async () => {
    const store = new MemoryNamespace()
    const first = await useStoreAuthState(store, silentLogger)
    const data: SignalDataSet = {
      'lid-mapping': { '34600111333': '1234567', '1234567_reverse': '34600111333' },
      'device-list': { '34600111333': ['0', '3'], '1234567': ['0', '3', '5'] },
      tctoken: {
        '1234567@lid': { token: Buffer.from([1, 2, 3]), timestamp: '1760000000' },
        __index: { token: Buffer.from(JSON.stringify(['1234567@lid'])) },
      },
    }
    await first.state.keys.set(data)
    expect(await store.keys()).toEqual(
      expect.arrayContaining([
        authKey('lid-mapping', '34600111333'),
        authKey('lid-mapping', '1234567_reverse'),
        authKey('device-list', '1234567'),
        authKey('tctoken', '1234567@lid'),
        authKey('tctoken', '__index'),
      ]),
    )
    // A restart reads them back with their types (Buffers stay Buffers).
    const again = (await useStoreAuthState(store, silentLogger)).state.keys
    expect(await again.get('lid-mapping', ['34600111333', '1234567_reverse'])).toEqual(
      data['lid-mapping'],
    )
    expect(await again.get('device-list', ['34600111333', '1234567'])).toEqual(data['device-list'])
    const tokens = await again.get('tctoken', ['1234567@lid'])
    expect(Buffer.isBuffer(tokens['1234567@lid']?.token)).toBe(true)
    expect(tokens['1234567@lid']).toEqual(data.tctoken!['1234567@lid'])
  })

  it("Baileys' own LID mapping finds a stored mapping after a restart", async () => {
    const first = await linkedWithMapping()
    await first.provider.shutdown()
    const second = directProvider()
    await second.provider.resume({ ...second.session, store: first.store })
    await until(() => second.fake.sockets.length === 1)
    const repository = second.fake.last().signalRepository
    expect(await repository.lidMapping.getPNForLID('1234567:3@lid')).toBe(
      '34600111333:3@s.whatsapp.net',
    )
    await second.provider.shutdown()
  })
})
