import { proto, type WAMessage } from '@whiskeysockets/baileys'
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  classifyDecryptError,
  DECRYPT_LOG_EVERY_MS,
  DECRYPT_PEERS_MAX,
  DecryptFailureWatch,
  type DecryptPeer,
} from '../../server/providers/baileys-decrypt'
import { directProvider, linkPhone } from '../helpers/fake-baileys'
import { recordingLogger } from '../helpers/logger'
import { until } from '../main/launch'

const PN = '34600111333@s.whatsapp.net'
const LID = '1234567@lid'

/** An account linked over fake sockets whose key store knows one peer (PN and LID) and another. */
async function accountWithPeers(env: Record<string, string> = {}) {
  const t = directProvider({ DECRYPT_FAILURES_RESET: '3', ...env })
  const phone = await linkPhone(t.provider, t.fake, t.session, t.calls)
  const record = Buffer.from('libsignal SessionRecord')
  // Baileys' own mapping store and key store write these (lid-mapping.js:74-76, messages-send.js:261).
  await phone.signalRepository.lidMapping.storeLIDPNMappings([{ lid: LID, pn: PN }])
  await phone.authState.keys.set({
    'device-list': { '34600111333': ['0', '3'], '1234567': ['0', '3', '5'] },
    session: {
      '34600111333.0': record,
      '34600111333.3': record,
      '1234567_1.0': record,
      '1234567_1.3': record,
      '1234567_1.5': record,
      '1234567_1.7': record,
      '5550001.0': record,
      '7777_1.2': record,
    },
  })
  const sessions = async () => (await t.store.keys('session-')).sort()
  return { ...t, phone, sessions }
}

describe('decryption failures', () => {
  it('after DECRYPT_FAILURES_RESET session failures, drops every session with that peer, PN and LID', async () => {
    const t = await accountWithPeers()
    for (const [i, author] of ['1234567:3@lid', '1234567:7@lid'].entries()) {
      t.phone.undecryptable({ id: `BAD${i}`, author, error: 'Bad MAC' })
    }
    expect(await t.sessions()).toHaveLength(8) // not yet
    t.phone.undecryptable({
      id: 'BAD2',
      author: '1234567:3@lid',
      error: 'No matching sessions found for message',
    })
    await until(async () => (await t.sessions()).length === 2)
    // Every device the store lists or the failures came from, in both forms; the others stay.
    expect(await t.sessions()).toEqual(['session-5550001.0', 'session-7777_1.2'])
    expect(t.counted.counts).toMatchObject({
      'decrypt:bad_mac': 2,
      'decrypt:no_matching_sessions': 1,
      reset: 1,
    })
    // Devices 0, 3, 5 (listed) and 7 (a failure's), each as PN and as LID.
    expect(
      t.log.find('Dropped the encryption sessions with a peer after repeated decryption failures'),
    ).toEqual([
      {
        level: 'warn',
        message: 'Dropped the encryption sessions with a peer after repeated decryption failures',
        fields: { session_id: 'acct', sessions: 8 },
      },
    ])
    await t.provider.shutdown()
  })

  it('a peer that writes by phone number is reset under its LID too', async () => {
    const t = await accountWithPeers()
    for (let i = 0; i < 3; i++) {
      t.phone.undecryptable({
        id: `PN${i}`,
        author: '34600111333:3@s.whatsapp.net',
        error: 'Bad MAC',
      })
    }
    await until(async () => (await t.sessions()).length === 3)
    // Device 7 is neither listed nor seen failing in this case: its session stays.
    expect(await t.sessions()).toEqual([
      'session-1234567_1.7',
      'session-5550001.0',
      'session-7777_1.2',
    ])
    await t.provider.shutdown()
  })

  it('a peer known by one address only is reset under that one alone', async () => {
    const t = await accountWithPeers()
    const dropped = () =>
      t.log
        .find('Dropped the encryption sessions with a peer after repeated decryption failures')
        .map((e) => e.fields?.sessions)
    for (let i = 0; i < 3; i++) {
      t.phone.undecryptable({ id: `LID${i}`, author: '7777:2@lid', error: 'Bad MAC' })
    }
    await until(() => dropped().length === 1)
    for (let i = 0; i < 3; i++) {
      t.phone.undecryptable({ id: `PN${i}`, author: '5550001@s.whatsapp.net', error: 'Bad MAC' })
    }
    await until(() => dropped().length === 2)
    // 7777: devices 0 and 2, as LID only; 5550001: device 0, as PN only.
    expect(dropped()).toEqual([2, 1])
    expect(await t.sessions()).toEqual([
      'session-1234567_1.0',
      'session-1234567_1.3',
      'session-1234567_1.5',
      'session-1234567_1.7',
      'session-34600111333.0',
      'session-34600111333.3',
    ])
    await t.provider.shutdown()
  })

  it('counts each failure once, though Baileys reports it in its log and as a stub', async () => {
    const t = await accountWithPeers()
    t.phone.undecryptable({ id: 'ONCE', author: '1234567:3@lid', error: 'Bad MAC' })
    t.phone.undecryptable({ id: 'ONCE', author: '1234567:3@lid', error: 'Bad MAC' }) // Baileys' retry of it
    expect(t.counted.counts['decrypt:bad_mac']).toBe(1)
    expect(t.calls.filter((c) => c.method === 'message')).toEqual([]) // stubs are not messages
    await t.provider.shutdown()
  })

  it('counts a failure it only sees as a CIPHERTEXT stub', async () => {
    const t = await accountWithPeers()
    t.phone.receive(
      [
        {
          key: { remoteJid: LID, fromMe: false, id: 'STUB-ONLY' },
          messageStubType: proto.WebMessageInfo.StubType.CIPHERTEXT,
          messageStubParameters: ['Bad MAC'],
        } as WAMessage,
      ],
      'append',
    )
    expect(t.counted.counts['decrypt:bad_mac']).toBe(1)
    await t.provider.shutdown()
  })

  it('resets nothing for failures that new sessions cannot fix, nor for placeholders', async () => {
    const t = await accountWithPeers()
    const errors = [
      'Key used already or never filled',
      'Invalid PreKey ID',
      'No SenderKeyRecord found for decryption',
      'No session record',
    ]
    for (const [i, error] of errors.entries()) {
      for (let n = 0; n < 3; n++)
        t.phone.undecryptable({ id: `E${i}-${n}`, author: '1234567:3@lid', error })
    }
    t.phone.receive([
      {
        key: { remoteJid: LID, fromMe: false, id: 'ADS' },
        messageStubType: proto.WebMessageInfo.StubType.CIPHERTEXT,
        messageStubParameters: ['Message absent from node'],
      } as WAMessage,
    ])
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(await t.sessions()).toHaveLength(8)
    expect(t.counted.counts).toEqual(
      expect.objectContaining({
        'decrypt:key_used': 3,
        'decrypt:invalid_prekey': 3,
        'decrypt:no_sender_key': 3,
        'decrypt:no_session': 3,
      }),
    )
    expect(t.counted.counts.reset).toBeUndefined()
    expect(Object.keys(t.counted.counts).filter((k) => k === 'decrypt:other')).toEqual([])
    await t.provider.shutdown()
  })

  it('DECRYPT_FAILURES_RESET=0 never resets', async () => {
    const t = await accountWithPeers({ DECRYPT_FAILURES_RESET: '0' })
    for (let i = 0; i < 10; i++)
      t.phone.undecryptable({ id: `Z${i}`, author: '1234567:3@lid', error: 'Bad MAC' })
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(await t.sessions()).toHaveLength(8)
    expect(t.counted.counts['decrypt:bad_mac']).toBe(10)
    await t.provider.shutdown()
  })
})

describe('DecryptFailureWatch', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  const watch = (options: Partial<ConstructorParameters<typeof DecryptFailureWatch>[0]> = {}) => {
    const log = recordingLogger()
    const resets: DecryptPeer[] = []
    const reasons: string[] = []
    const w = new DecryptFailureWatch({
      sessionId: 'acct',
      resetAfter: 5,
      windowMs: 60_000,
      logger: log.logger,
      onFailure: (reason) => reasons.push(reason),
      reset: (peer) => resets.push(peer),
      ...options,
    })
    const fail = (id: string, author: string, error = 'Bad MAC') =>
      w.fromLog({ key: { id }, err: new Error(error), author }, 'failed to decrypt message')
    return { w, log, resets, reasons, fail }
  }

  it('logs at most once a minute per account, with the count and reasons', () => {
    vi.useFakeTimers()
    const { log, fail } = watch()
    fail('A', '111:1@s.whatsapp.net')
    const lines = () => log.find('WhatsApp messages could not be decrypted')
    expect(lines()).toHaveLength(1)
    for (let i = 0; i < 40; i++)
      fail(`B${i}`, `${200 + i}:1@s.whatsapp.net`, i % 2 ? 'Bad MAC' : 'No session record')
    expect(lines()).toHaveLength(1)
    vi.advanceTimersByTime(DECRYPT_LOG_EVERY_MS)
    expect(lines()).toHaveLength(2)
    expect(lines()[1]!.fields).toMatchObject({
      session_id: 'acct',
      failures: 40,
      reasons: { bad_mac: 20, no_session: 20 },
    })
    vi.advanceTimersByTime(10 * DECRYPT_LOG_EVERY_MS)
    expect(lines()).toHaveLength(2) // nothing new, nothing logged
  })

  it('logs the next count a minute after the last line, not a minute after the failure', () => {
    vi.useFakeTimers()
    const { log, fail } = watch()
    const lines = () => log.find('WhatsApp messages could not be decrypted')
    fail('A', '111:1@s.whatsapp.net')
    vi.advanceTimersByTime(DECRYPT_LOG_EVERY_MS / 2)
    fail('B', '112:1@s.whatsapp.net')
    vi.advanceTimersByTime(DECRYPT_LOG_EVERY_MS / 2 - 1)
    expect(lines()).toHaveLength(1)
    vi.advanceTimersByTime(1)
    expect(lines().map((line) => line.fields?.failures)).toEqual([1, 1])
  })

  it('when disposed, logs what is pending at once, then nothing more, and forgets its peers', () => {
    vi.useFakeTimers()
    const { w, log, fail } = watch()
    const lines = () => log.find('WhatsApp messages could not be decrypted')
    fail('A', '111:1@s.whatsapp.net') // logged at once
    fail('B', '222:1@s.whatsapp.net') // waits for the minute
    expect(w.size).toBe(2)
    w.dispose()
    expect(lines().map((line) => line.fields?.failures)).toEqual([1, 1])
    expect(w.size).toBe(0)
    vi.advanceTimersByTime(10 * DECRYPT_LOG_EVERY_MS)
    expect(lines()).toHaveLength(2)

    const quiet = watch()
    quiet.w.dispose() // an account that saw no failures has nothing to report
    expect(quiet.log.entries).toEqual([])
  })

  it('holds at most DECRYPT_PEERS_MAX peers, forgetting the least recently failing', () => {
    const { w, fail, resets } = watch({ resetAfter: 2 })
    fail('first', '1:1@s.whatsapp.net')
    for (let i = 0; i < DECRYPT_PEERS_MAX + 500; i++) fail(`m${i}`, `${1000 + i}:1@s.whatsapp.net`)
    expect(w.size).toBe(DECRYPT_PEERS_MAX)
    fail('second', '1:1@s.whatsapp.net') // its first failure was forgotten
    expect(resets).toEqual([])
  })

  it('remembers a bounded number of failed messages and devices', () => {
    const { fail, reasons, resets } = watch({ resetAfter: 1000 })
    fail('SAME', '5:1@lid')
    fail('SAME', '5:1@lid')
    expect(reasons).toHaveLength(1) // the same failure, seen twice
    for (let i = 0; i < 600; i++) fail(`other${i}`, '6:1@lid')
    fail('SAME', '5:1@lid')
    expect(reasons).toHaveLength(602) // forgotten by now: it counts again
    const one = watch({ resetAfter: 40 })
    for (let device = 0; device < 40; device++) one.fail(`d${device}`, `7:${device}@lid`)
    expect(one.resets[0]!.devices).toHaveLength(16)
    expect(resets).toEqual([])
  })

  it('counts a peer only within the window', () => {
    let now = 0
    const { fail, resets } = watch({ resetAfter: 3, windowMs: 1000, now: () => now })
    fail('1', '9:2@lid')
    fail('2', '9:2@lid')
    now = 1500
    fail('3', '9:2@lid')
    expect(resets).toEqual([])
    fail('4', '9:2@lid')
    fail('5', '9:4@lid')
    expect(resets).toEqual([{ jid: '9@lid', devices: ['2', '4'] }])
  })

  it('ignores other error logs and malformed fields', () => {
    const { w, reasons } = watch()
    w.fromLog({ err: new Error('Bad MAC'), author: '1@lid' }, 'error in handling message')
    w.fromLog('just text', 'failed to decrypt message')
    w.fromLog({ key: {}, err: 'not an error', author: 5 }, 'failed to decrypt message')
    w.fromLog(null, 'failed to decrypt message')
    expect(reasons).toEqual([])
  })

  it('counts a logged failure only with its sender and error message, and never throws', () => {
    const { w, reasons } = watch()
    const logged = (fields: unknown) => w.fromLog(fields, 'failed to decrypt message')
    expect(() => {
      logged({ key: { id: '1' }, err: new Error('Bad MAC'), author: 5 })
      logged({ key: { id: '2' }, err: { message: 42 }, author: '1:1@lid' })
      logged({ key: { id: '3' }, author: '1:1@lid' })
    }).not.toThrow()
    expect(reasons).toEqual([])
  })

  it('counts a logged failure without a message id each time: it cannot tell two apart', () => {
    const { w, reasons } = watch()
    const err = new Error('Bad MAC')
    w.fromLog({ err, author: '1:1@lid' }, 'failed to decrypt message')
    w.fromLog({ key: {}, err, author: '1:1@lid' }, 'failed to decrypt message')
    expect(reasons).toEqual(['bad_mac', 'bad_mac'])
  })

  it('takes every CIPHERTEXT stub as a failure stub, counting those with an error and a sender', () => {
    const { w, reasons } = watch()
    const stub = (key: WAMessage['key'], parameters?: string[]) =>
      ({
        key,
        messageStubType: proto.WebMessageInfo.StubType.CIPHERTEXT,
        ...(parameters ? { messageStubParameters: parameters } : {}),
      }) as WAMessage
    expect(w.fromUpsert(stub({ remoteJid: LID, id: 'NO-REASON' }))).toBe(true)
    expect(w.fromUpsert(stub({ remoteJid: LID, id: 'ADS' }, ['Message absent from node']))).toBe(
      true,
    )
    expect(w.fromUpsert(stub({ id: 'NO-SENDER' }, ['Bad MAC']))).toBe(true)
    expect(reasons).toEqual([])
    expect(w.fromUpsert(stub({ remoteJid: LID, id: 'BAD' }, ['Bad MAC']))).toBe(true)
    expect(reasons).toEqual(['bad_mac'])
    const text = { key: { remoteJid: LID, id: 'TEXT' }, message: { conversation: 'hola' } }
    expect(w.fromUpsert(text as WAMessage)).toBe(false)
  })

  it('counts failures from a sender it cannot name, but never resets such a peer', () => {
    const { fail, reasons, resets } = watch({ resetAfter: 2 })
    expect(() => {
      fail('1', 'not-a-jid')
      fail('2', 'not-a-jid')
    }).not.toThrow()
    expect(reasons).toEqual(['bad_mac', 'bad_mac'])
    expect(resets).toEqual([])
  })

  it('names the reasons libsignal and Baileys give', () => {
    expect(
      [
        'Bad MAC',
        'No matching sessions found for message',
        'No session record',
        'Invalid PreKey ID',
        'No SenderKeyRecord found for decryption',
        'No session found to decrypt message',
        'Received message with old counter: 3, 9',
        'Key used already or never filled',
        'Unknown e2e type: frob',
      ].map(classifyDecryptError),
    ).toEqual([
      'bad_mac',
      'no_matching_sessions',
      'no_session',
      'invalid_prekey',
      'no_sender_key',
      'no_sender_key',
      'old_counter',
      'key_used',
      'other',
    ])
  })
})
