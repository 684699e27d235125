import { describe, expect, it } from 'vitest'
import { silentLogger } from '../../server/logger'
import { DamagedCredentialsError } from '../../server/providers/baileys-auth-store'
import type { ProviderQr, SessionSink } from '../../server/providers/provider'
import { SessionStore } from '../../server/sessions/session-store'
import { CREDENTIALS_PREFIX } from '../../server/store/legacy'
import { MemoryStore } from '../helpers/memory-store'
import { managerHarness, switchableOwnership } from '../helpers/session-manager'

const ana = { id: '34600111222@s.whatsapp.net', name: 'Ana' }
const qr = (data: string, attempt = 1): ProviderQr => ({
  data,
  ttlMs: 60_000,
  attempt,
  attemptsMax: 6,
})

/** Every callback a provider can make, each with plausible arguments. */
async function speakThrough(sink: SessionSink) {
  sink.qr(qr('old-link-qr'))
  sink.pairingCode('OLDCODE1', 60_000)
  sink.reconnecting(true, { code: 428, message: 'old drop' })
  sink.health('degraded', 'old silence')
  sink.message({
    id: 'OLD1',
    from: '34600999888@s.whatsapp.net',
    text: 'from an older link',
    kind: 'text',
    timestamp: new Date(),
  })
  await sink.authenticated(ana)
  sink.disconnected('failed', { message: 'the old link ended' })
}

describe('callbacks from a link that is no longer current', () => {
  it('an older link of the session speaks no more once a new link started', async () => {
    const h = managerHarness()
    await h.requestLink('s1')
    h.hand.sink('s1').qr(qr('first'))
    await h.manager.disconnect('s1')
    await h.requestLink('s1')
    const before = h.room.sent.length
    await speakThrough(h.hand.sink('s1', 1))
    await new Promise((resolve) => setImmediate(resolve))
    expect(h.room.sent.slice(before)).toEqual([])
    expect(h.manager.status('s1')).toMatchObject({ status: 'pending', reconnecting: false })
    expect(await h.store.account('s1').get('record')).toBeUndefined()
    expect(h.manager.timeline('s1')).toEqual([])
    // The current link still speaks.
    h.hand.sink('s1').qr(qr('second'))
    expect(h.room.payloads('s1', 'qr_code').at(-1)).toMatchObject({ qr_data: 'second' })
    expect(h.manager.status('s1').status).toBe('qr_ready')
  })

  it('a link replaced by one in another mode (QR, then pairing code) speaks no more', async () => {
    const h = managerHarness()
    await h.requestLink('mode')
    await h.requestLink('mode', '34600111222')
    expect(h.hand.calls).toEqual(['link mode', 'close mode', 'link mode'])
    h.hand.sink('mode', 1).qr(qr('from the QR link'))
    expect(h.room.events('mode')).not.toContain('qr_code')
    h.hand.sink('mode').pairingCode('ABCD2345', 60_000)
    expect(h.room.payloads('mode', 'pairing_code')).toMatchObject([{ code: 'ABCD2345' }])
  })

  it('a session removed for idleness is not brought back by its provider', async () => {
    const h = managerHarness({ env: { SESSION_IDLE_MS: '1000' } })
    await h.requestLink('idle')
    const sink = h.hand.sink('idle')
    expect(await h.manager.sweepIdle(Date.now() + 1000)).toBe(1)
    expect(h.manager.has('idle')).toBe(false)
    const before = h.room.sent.length
    await speakThrough(sink)
    expect(h.room.sent.slice(before)).toEqual([])
    expect(h.manager.has('idle')).toBe(false)
    expect(h.manager.size).toBe(0)
  })

  it('once this hub may no longer act for the session (its lease is lost), its link is ignored', async () => {
    const fleet = switchableOwnership()
    const h = managerHarness({ ownership: fleet.ownership })
    await h.requestLink('leased')
    fleet.lost.add('leased')
    const before = h.room.sent.length
    await speakThrough(h.hand.sink('leased'))
    expect(h.room.sent.slice(before)).toEqual([])
    expect(await h.store.account('leased').get('record')).toBeUndefined()
    expect(h.manager.status('leased').status).toBe('pending')
  })

  it('a link disconnected while its record was being written is not announced', async () => {
    const h = managerHarness()
    await h.requestLink('racing')
    h.store.hold()
    const linked = h.hand.sink('racing').authenticated(ana)
    await new Promise((resolve) => setImmediate(resolve))
    await h.manager.disconnect('racing')
    h.store.release()
    await linked
    expect(h.room.events('racing')).not.toContain('authenticated')
    expect(h.manager.status('racing')).toMatchObject({ status: 'disconnected', reason: 'logout' })
    expect(h.changes.map((c) => c.status)).not.toContain('authenticated')
  })

  it('after the hub stopped, nothing its links say changes a session', async () => {
    const h = managerHarness()
    await h.requestLink('stopping')
    await h.manager.stop()
    expect(h.hand.calls).toContain('shutdown')
    const before = h.room.sent.length
    await speakThrough(h.hand.sink('stopping'))
    expect(h.room.sent.slice(before)).toEqual([])
  })
})

describe('a provider that fails one session', () => {
  it('a callback that cannot be handled fails that session only, and its room hears why', async () => {
    const h = managerHarness()
    await h.requestLink('bad')
    await h.requestLink('good')
    // Far more than a QR code can hold: rendering it throws.
    h.hand.sink('bad').qr(qr('x'.repeat(8000)))
    expect(h.manager.status('bad')).toMatchObject({ status: 'disconnected', reason: 'failed' })
    expect(h.room.payloads('bad', 'error')).toEqual([
      {
        type: 'error',
        code: 'provider_error',
        message: 'The WhatsApp provider failed for this session',
        session_id: 'bad',
      },
    ])
    expect(h.room.payloads('bad', 'disconnected')).toMatchObject([{ reason: 'failed' }])
    expect(h.errors).toEqual(['provider_error'])
    expect(h.hand.calls).toContain('close bad')
    // Its link is over: nothing more from it counts.
    h.hand.sink('bad').qr(qr('fine now'))
    expect(h.manager.status('bad').status).toBe('disconnected')
    h.hand.sink('good').qr(qr('fine'))
    expect(h.manager.status('good').status).toBe('qr_ready')
  })

  it('a link whose record cannot be stored fails, and the provider hears it was not confirmed', async () => {
    const h = managerHarness()
    await h.requestLink('no-disk')
    h.store.account('no-disk').write = () => Promise.reject(new Error('disk gone'))
    await expect(h.hand.sink('no-disk').authenticated(ana)).rejects.toThrow('disk gone')
    expect(h.manager.status('no-disk')).toMatchObject({ status: 'disconnected', reason: 'failed' })
    expect(h.room.events('no-disk')).not.toContain('authenticated')
    expect(h.room.payloads('no-disk', 'error')).toMatchObject([{ code: 'provider_error' }])
  })

  it('a link that cannot start fails its session and tells the caller', async () => {
    const h = managerHarness()
    h.hand.provider.link = async () => {
      throw new Error('no network')
    }
    await expect(h.requestLink('offline')).rejects.toMatchObject({
      code: 'provider_error',
      message: 'The WhatsApp provider could not start linking',
    })
    expect(h.manager.status('offline')).toMatchObject({ status: 'disconnected', reason: 'failed' })
  })
})

/** A store holding the record of a linked account `id` (naming `recordId`). */
async function storedLink(id: string, recordId = id) {
  const store = new MemoryStore()
  await new SessionStore(store, silentLogger)
    .open(id)
    .save({ id: recordId, provider: 'simulated', user: ana, linked_at: new Date(0).toISOString() })
  return store
}

describe('stored sessions not loaded yet (a fleet hub before its takeover)', () => {
  it('get_qr for a linked account resumes it from its credentials, never links it afresh', async () => {
    const lease = switchableOwnership()
    const h = managerHarness({
      store: await storedLink('linked'),
      ownership: lease.ownership,
      restoreOnRequest: true,
    })
    const answer = await h.requestLink('linked')
    expect(answer.status).toMatchObject({ status: 'authenticated', reconnecting: true })
    expect(answer.replay).toMatchObject({ event: 'authenticated', payload: { user: ana } })
    expect(h.hand.calls).toEqual(['resume linked'])
    expect(h.joined).toEqual(['linked'])
    expect(lease.released).toEqual([])
  })

  it('get_qr for an id with nothing stored links afresh, keeping the lease it took', async () => {
    const lease = switchableOwnership()
    const h = managerHarness({ ownership: lease.ownership, restoreOnRequest: true })
    await h.requestLink('new')
    expect(h.hand.calls).toEqual(['link new'])
    expect(lease.released).toEqual([])
  })

  it('a stored session that cannot be read now gives its lease back and fails only the request', async () => {
    const lease = switchableOwnership()
    const store = await storedLink('flaky')
    store.account('flaky').get = () => Promise.reject(new Error('EIO'))
    const h = managerHarness({ store, ownership: lease.ownership, restoreOnRequest: true })
    await expect(h.requestLink('flaky')).rejects.toThrow('EIO')
    await expect(h.manager.adopt('flaky')).rejects.toThrow('EIO')
    expect(lease.released).toEqual(['flaky', 'flaky'])
    expect(h.hand.calls).toEqual([])
    expect(h.manager.has('flaky')).toBe(false)
  })
})

describe('stored data that makes no sense', () => {
  it('a record naming another session is reported failed and kept, not retried as a failed read', async () => {
    const store = await storedLink('mixed', 'someone-else')
    const h = managerHarness({ store })
    expect(await h.manager.adopt('mixed')).toBe('kept')
    expect(h.manager.status('mixed')).toMatchObject({ status: 'disconnected', reason: 'failed' })
    await expect(h.requestLink('mixed')).rejects.toMatchObject({
      code: 'provider_error',
      message: expect.stringMatching(/damaged/),
    })
    expect(store.accounts.has('mixed')).toBe(true)
    expect(h.hand.calls).toEqual([])
  })

  it('credentials without a record that the provider finds damaged are kept, the session failed', async () => {
    const store = new MemoryStore()
    await store.account('torn').write([[`${CREDENTIALS_PREFIX}creds`, Buffer.from('{"half')]])
    const h = managerHarness({ store })
    h.hand.provider.inspect = () => Promise.reject(new DamagedCredentialsError())
    expect(await h.manager.adopt('torn')).toBe('kept')
    expect(h.manager.status('torn')).toMatchObject({ status: 'disconnected', reason: 'failed' })
    expect(store.accounts.has('torn')).toBe(true)
  })
})

describe('a link asked for while the previous one is ending', () => {
  it('is stored when linked: it does not write through the handle of the data being deleted', async () => {
    const h = managerHarness()
    await h.requestLink('again')
    h.hand.sink('again').qr(qr('first-code'))
    // The codes ran out; before the hub has announced it, a client asks to link again.
    h.hand.sink('again').disconnected('qr_timeout')
    await h.requestLink('again')
    await h.hand.sink('again').authenticated(ana)
    expect(h.manager.status('again')).toMatchObject({ status: 'authenticated', user: ana })
    const stored = await new SessionStore(h.store, silentLogger).load('again')
    expect(stored).toMatchObject({ kind: 'record', record: { user: ana } })
  })
})

describe('get_qr refused or raced', () => {
  it('a get_qr refused for MAX_PENDING_PER_CLIENT gives back the lease it took for the new session', async () => {
    const lease = switchableOwnership()
    const h = managerHarness({ env: { MAX_PENDING_PER_CLIENT: '1' }, ownership: lease.ownership })
    await h.requestLink('first', undefined, 'client-1')
    await expect(h.requestLink('second', undefined, 'client-1')).rejects.toMatchObject({
      code: 'limit_reached',
    })
    expect(lease.released).toEqual(['second'])
    expect(h.manager.has('second')).toBe(false)
  })

  it('two clients asking for the same new session at once share one link, neither gets an error', async () => {
    const h = managerHarness()
    const answers = await Promise.all([
      h.requestLink('shared', undefined, 'client-1'),
      h.requestLink('shared', undefined, 'client-2'),
    ])
    expect(answers.map((a) => a.status.status)).toEqual(['pending', 'pending'])
    expect(h.hand.calls).toEqual(['link shared'])
    expect(h.joined).toEqual(['shared', 'shared'])
  })
})
