import { afterEach, describe, expect, it, vi } from 'vitest'
import { silentLogger } from '../../server/logger'
import { DISCONNECT_MESSAGES, type ProviderName } from '../../server/protocol'
import type { ProviderQr, Simulator } from '../../server/providers/provider'
import { emptyCounts, OwnedElsewhereError } from '../../server/sessions/session-manager'
import { SessionStore } from '../../server/sessions/session-store'
import { CREDENTIALS_PREFIX } from '../../server/store/legacy'
import { SealError } from '../../server/store/seal'
import { MemoryStore } from '../helpers/memory-store'
import { handProvider, managerHarness, switchableOwnership } from '../helpers/session-manager'
import { recordingLogger } from '../helpers/logger'

const ana = { id: '34600111222@s.whatsapp.net', name: 'Ana' }
const qr = (data: string): ProviderQr => ({ data, ttlMs: 60_000, attempt: 1, attemptsMax: 6 })
const T0 = new Date('2026-03-01T10:00:00Z').getTime()

/** Lets pending promise callbacks (store removals, announcements) run. */
const settle = () => new Promise((resolve) => setImmediate(resolve))

function deferred<T = void>() {
  let resolve!: (value: T) => void
  const promise = new Promise<T>((done) => (resolve = done))
  return { promise, resolve }
}

/** A fleet lease that also lists every claim made. */
function countingOwnership() {
  const lease = switchableOwnership()
  const claimed: string[] = []
  const claim = lease.ownership.claim
  lease.ownership.claim = async (id) => {
    claimed.push(id)
    return claim(id)
  }
  return { ...lease, claimed }
}

/** Stores the record of an account `id` linked long ago by `provider`. */
async function storeLink(store: MemoryStore, id: string, provider: ProviderName = 'simulated') {
  await new SessionStore(store, silentLogger)
    .open(id)
    .save({ id, provider, user: ana, linked_at: new Date(0).toISOString() })
}

/** Stores credentials without a record (a crash between the two writes); `creds` says which. */
async function storeCredentials(store: MemoryStore, id: string, creds = 'half') {
  await store.account(id).write([[`${CREDENTIALS_PREFIX}creds`, Buffer.from(creds)]])
}

/** Makes every read of `id`'s stored data wait for the returned `open()`. */
function gateReads(store: MemoryStore, id: string) {
  const gate = deferred()
  const ns = store.account(id)
  const get = ns.get.bind(ns)
  ns.get = async (key) => {
    await gate.promise
    return get(key)
  }
  return { open: () => gate.resolve() }
}

/** What `act` throws (undefined if it returns). */
function thrown(act: () => unknown): unknown {
  try {
    act()
  } catch (error) {
    return error
  }
  return undefined
}

type Harness = ReturnType<typeof managerHarness>

/** get_qr, then the provider confirms the link for Ana. */
async function linkAna(h: Harness, id: string) {
  await h.requestLink(id)
  await h.hand.sink(id).authenticated(ana)
}

afterEach(() => {
  vi.useRealTimers()
})

describe('stored sessions at start-up', () => {
  it('load resumes every linked account of this provider, says how many, each reconnecting', async () => {
    const store = new MemoryStore()
    await storeLink(store, 'first')
    await storeLink(store, 'second')
    await storeLink(store, 'foreign', 'baileys')
    const h = managerHarness({ store })
    expect(await h.manager.load()).toBe(2)
    expect(h.hand.calls.sort()).toEqual(['resume first', 'resume second'])
    for (const id of ['first', 'second']) {
      expect(h.manager.status(id)).toMatchObject({
        status: 'authenticated',
        reconnecting: true,
        user: ana,
        message: 'Connection to WhatsApp lost; reconnecting',
      })
    }
    expect(h.manager.countByStatus()).toEqual({ ...emptyCounts(), authenticated: 2 })
  })

  it('a stored session that cannot be read now stays stored, the others load, and the operator is told', async () => {
    const store = new MemoryStore()
    await storeLink(store, 'flaky')
    await storeLink(store, 'fine')
    store.account('flaky').get = () => Promise.reject(new Error('EIO'))
    const log = recordingLogger()
    const lease = switchableOwnership()
    const h = managerHarness({ store, logger: log.logger, ownership: lease.ownership })
    expect(await h.manager.load()).toBe(1)
    expect(h.manager.has('flaky')).toBe(false)
    expect(store.accounts.has('flaky')).toBe(true)
    expect(lease.released).toContain('flaky')
    expect(log.find('Could not load a stored session; it stays stored')).toMatchObject([
      { level: 'error', fields: { session_id: 'flaky' } },
    ])
  })

  it('disconnecting a resumed account logs it out on WhatsApp too', async () => {
    const store = new MemoryStore()
    await storeLink(store, 'resumed')
    const h = managerHarness({ store })
    await h.manager.load()
    await h.manager.disconnect('resumed')
    expect(h.hand.calls).toEqual(['resume resumed', 'logout resumed'])
    expect(store.accounts.has('resumed')).toBe(false)
  })

  it('a linked account of another provider is left stored, its lease given back, and the log says why', async () => {
    const store = new MemoryStore()
    await storeLink(store, 'foreign', 'baileys')
    const log = recordingLogger()
    const lease = switchableOwnership()
    const h = managerHarness({ store, logger: log.logger, ownership: lease.ownership })
    expect(await h.manager.adopt('foreign')).toBe('skipped')
    expect(h.manager.has('foreign')).toBe(false)
    expect(h.hand.calls).toEqual([])
    expect(await store.account('foreign').get('record')).toBeDefined()
    expect(lease.released).toEqual(['foreign'])
    expect(log.find('Keeping a stored session of another provider untouched')).toMatchObject([
      { level: 'info', fields: { session_id: 'foreign', provider: 'baileys' } },
    ])
  })

  it('credentials of a link never confirmed are deleted, those of a confirmed one adopted, leftovers deleted quietly', async () => {
    const store = new MemoryStore()
    await storeCredentials(store, 'half', 'half')
    await storeCredentials(store, 'whole', 'complete')
    // Neither record nor credentials: only an old timeline is left.
    await store.account('crumbs').write([['timeline', Buffer.from('[]')]])
    const log = recordingLogger()
    const lease = switchableOwnership()
    const h = managerHarness({ store, logger: log.logger, ownership: lease.ownership })
    h.hand.provider.inspect = async (credentials) =>
      (await credentials.get('creds'))?.toString() === 'complete' ? ana : undefined
    expect(await h.manager.adopt('crumbs')).toBe('skipped')
    expect(await h.manager.load()).toBe(1)
    expect(store.accounts.has('crumbs')).toBe(false)
    expect(store.accounts.has('half')).toBe(false)
    expect(h.manager.has('crumbs')).toBe(false)
    expect(h.manager.has('half')).toBe(false)
    expect(lease.released.sort()).toEqual(['crumbs', 'half'])
    expect(h.manager.status('whole')).toMatchObject({ status: 'authenticated', user: ana })
    const record = JSON.parse((await store.account('whole').get('record'))!.toString('utf8'))
    expect(record).toMatchObject({ id: 'whole', provider: 'simulated', user: ana })
    expect(log.find('Removed the credentials of a link that was never confirmed')).toEqual([
      { level: 'info', message: expect.any(String), fields: { session_id: 'half' } },
    ])
    expect(log.find('Adopted stored credentials whose session record was missing')).toEqual([
      { level: 'info', message: expect.any(String), fields: { session_id: 'whole', user: ana.id } },
    ])
  })

  it('credentials that cannot be read with this data key are kept, and the session reported failed with why', async () => {
    const store = new MemoryStore()
    await storeCredentials(store, 'sealed')
    const log = recordingLogger()
    const lease = switchableOwnership()
    const h = managerHarness({ store, logger: log.logger, ownership: lease.ownership })
    h.hand.provider.inspect = () => Promise.reject(new SealError('wrong_key', 'not this key'))
    const why = 'The stored credentials cannot be read with this data key; nothing was deleted'
    expect(await h.manager.adopt('sealed')).toBe('kept')
    expect(h.manager.status('sealed')).toMatchObject({
      status: 'disconnected',
      reason: 'failed',
      message: why,
    })
    expect(log.find(why)).toMatchObject([{ level: 'error', fields: { session_id: 'sealed' } }])
    // This hub reports it: it keeps the lease, and nobody links afresh over the credentials.
    expect(lease.released).toEqual([])
    await expect(h.requestLink('sealed')).rejects.toMatchObject({
      code: 'provider_error',
      message: expect.stringContaining(why),
    })
    expect(store.accounts.has('sealed')).toBe(true)
    expect(h.hand.calls).toEqual([])
  })

  it('credentials that fail to be read now are left stored and their lease given back, to be tried again', async () => {
    const store = new MemoryStore()
    await storeCredentials(store, 'slow')
    const lease = switchableOwnership()
    const h = managerHarness({ store, ownership: lease.ownership })
    h.hand.provider.inspect = () => Promise.reject(new Error('ECONNRESET'))
    await expect(h.manager.adopt('slow')).rejects.toThrow('ECONNRESET')
    expect(h.manager.has('slow')).toBe(false)
    expect(store.accounts.has('slow')).toBe(true)
    expect(lease.released).toEqual(['slow'])
  })

  it('a stored session whose lease another hub holds is left to that hub', async () => {
    const store = new MemoryStore()
    await storeLink(store, 'theirs')
    const lease = switchableOwnership()
    lease.lost.add('theirs')
    const h = managerHarness({ store, ownership: lease.ownership })
    expect(await h.manager.adopt('theirs')).toBe('skipped')
    expect(h.manager.has('theirs')).toBe(false)
    expect(h.hand.calls).toEqual([])
  })

  it('a stopping hub takes no stored session over, nor its lease', async () => {
    const store = new MemoryStore()
    await storeLink(store, 'later')
    const lease = countingOwnership()
    const h = managerHarness({ store, ownership: lease.ownership })
    await h.manager.stop()
    expect(await h.manager.adopt('later')).toBe('skipped')
    expect(lease.claimed).toEqual([])
    expect(h.manager.has('later')).toBe(false)
    expect(h.hand.calls).toEqual(['shutdown'])
  })

  it('a stored account whose read ends after the hub began stopping is not resumed', async () => {
    const store = new MemoryStore()
    await storeLink(store, 'late')
    const reads = gateReads(store, 'late')
    const h = managerHarness({ store })
    const adopting = h.manager.adopt('late')
    await settle()
    await h.manager.stop()
    reads.open()
    expect(await adopting).toBe('skipped')
    expect(h.manager.has('late')).toBe(false)
    expect(h.hand.calls).toEqual(['shutdown'])
  })

  it('a session asked for while its stored data was read is left to that request, lease and all', async () => {
    const store = new MemoryStore()
    const reads = gateReads(store, 'busy')
    const lease = switchableOwnership()
    const h = managerHarness({ store, ownership: lease.ownership })
    const adopting = h.manager.adopt('busy')
    await settle()
    await h.requestLink('busy')
    reads.open()
    expect(await adopting).toBe('skipped')
    expect(lease.released).toEqual([])
    expect(h.manager.status('busy').status).toBe('pending')
    expect(h.hand.calls).toEqual(['link busy'])
  })
})

describe('a session handed to another hub', () => {
  it('is dropped here without a word to its room, its data kept for the new owner', async () => {
    const log = recordingLogger()
    const h = managerHarness({ env: { SEND_BURST: '1' }, logger: log.logger })
    await linkAna(h, 'moved')
    await h.manager.sendMessage('moved', '34600999888', 'first')
    const queued = h.manager.sendMessage('moved', '34600999888', 'second')
    const before = h.room.sent.length
    const changes = h.changes.length
    h.manager.evict('moved')
    await expect(queued).rejects.toMatchObject({
      code: 'not_authenticated',
      message: 'another hub owns the session now',
    })
    expect(h.manager.has('moved')).toBe(false)
    expect(h.manager.countByStatus()).toEqual(emptyCounts())
    expect(h.hand.calls).toContain('close moved')
    expect(h.room.sent.slice(before)).toEqual([])
    expect(h.changes.length).toBe(changes)
    expect(await h.store.account('moved').get('record')).toBeDefined()
    expect(log.find('Session handed to another hub')).toMatchObject([
      { level: 'info', fields: { session_id: 'moved' } },
    ])
  })

  it('handing over a session this hub does not hold changes nothing', async () => {
    const h = managerHarness()
    await h.requestLink('mine')
    expect(() => h.manager.evict('unknown')).not.toThrow()
    expect(h.hand.calls).toEqual(['link mine'])
    expect(h.manager.size).toBe(1)
  })

  it('a provider that cannot close a session this hub let go of is logged for the operator', async () => {
    const log = recordingLogger()
    const h = managerHarness({ logger: log.logger })
    h.hand.provider.close = () => Promise.reject(new Error('socket stuck'))
    await h.requestLink('handed')
    await h.requestLink('idle')
    h.manager.evict('handed')
    await h.manager.sweepIdle(Date.now() + h.config.sessionIdleMs)
    await settle()
    expect(log.find('Provider close failed')).toMatchObject([
      { level: 'warn', fields: { session_id: 'handed', error: { message: 'socket stuck' } } },
      { level: 'warn', fields: { session_id: 'idle', error: { message: 'socket stuck' } } },
    ])
  })
})

describe('idle cleanup', () => {
  it('an unlinked session without subscribers is removed once SESSION_IDLE_MS has passed, not before', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(T0)
    const h = managerHarness({ env: { SESSION_IDLE_MS: '60000' } })
    await h.requestLink('idle')
    expect(await h.manager.sweepIdle(T0 + 59_999)).toBe(0)
    expect(h.manager.has('idle')).toBe(true)
    expect(await h.manager.sweepIdle(T0 + 60_000)).toBe(1)
    expect(h.manager.has('idle')).toBe(false)
  })

  it('an idle link that never completed tells its room once its data is deleted, and gives its lease back', async () => {
    const lease = switchableOwnership()
    const h = managerHarness({ ownership: lease.ownership })
    await h.requestLink('idle')
    h.hand.sink('idle').qr(qr('never scanned'))
    await h.hand.links[0]!.session.store.write([['creds', Buffer.from('half a link')]])
    expect(await h.manager.sweepIdle(Date.now() + h.config.sessionIdleMs)).toBe(1)
    await settle()
    expect(h.room.payloads('idle', 'disconnected')).toEqual([
      {
        type: 'disconnected',
        session_id: 'idle',
        reason: 'inactive',
        message: DISCONNECT_MESSAGES.inactive,
      },
    ])
    expect(h.changes.at(-1)).toMatchObject({ status: 'disconnected', reason: 'inactive' })
    expect(h.store.accounts.has('idle')).toBe(false)
    expect(lease.released).toEqual(['idle'])
    expect(h.manager.countByStatus()).toEqual(emptyCounts())
  })

  it('an ended session removed for idleness says nothing more to its room', async () => {
    const h = managerHarness()
    await h.requestLink('ended')
    h.hand.sink('ended').disconnected('qr_timeout')
    await settle()
    expect(h.room.payloads('ended', 'disconnected')).toMatchObject([{ reason: 'qr_timeout' }])
    expect(await h.manager.sweepIdle(Date.now() + h.config.sessionIdleMs)).toBe(1)
    await settle()
    expect(h.room.payloads('ended', 'disconnected')).toMatchObject([{ reason: 'qr_timeout' }])
    expect(h.manager.countByStatus()).toEqual(emptyCounts())
  })

  it('a session asked for again while its removal was under way keeps its room and its lease', async () => {
    const removed = deferred()
    const lease = switchableOwnership()
    const h = managerHarness({ ownership: lease.ownership, onRemoved: () => removed.promise })
    await h.requestLink('again')
    expect(await h.manager.sweepIdle(Date.now() + h.config.sessionIdleMs)).toBe(1)
    await h.requestLink('again')
    removed.resolve()
    await settle()
    expect(h.room.events('again')).not.toContain('disconnected')
    expect(h.changes.filter((change) => change.reason === 'inactive')).toEqual([])
    expect(lease.released).toEqual([])
    expect(h.manager.status('again').status).toBe('pending')
  })

  it('data that cannot be deleted after an idle removal is logged for the operator, and the lease still given back', async () => {
    const log = recordingLogger()
    const lease = switchableOwnership()
    const h = managerHarness({ logger: log.logger, ownership: lease.ownership })
    await h.requestLink('stuck')
    h.store.removeAccount = () => Promise.reject(new Error('disk full'))
    expect(await h.manager.sweepIdle(Date.now() + h.config.sessionIdleMs)).toBe(1)
    await settle()
    expect(log.find('Could not delete the data of a removed session')).toMatchObject([
      { level: 'error', fields: { session_id: 'stuck', error: { message: 'disk full' } } },
    ])
    expect(lease.released).toEqual(['stuck'])
  })

  it('a stored session that cannot be read is never removed for idleness: only a person deletes it', async () => {
    const store = new MemoryStore()
    await storeCredentials(store, 'sealed')
    const h = managerHarness({ store })
    h.hand.provider.inspect = () => Promise.reject(new SealError('wrong_key', 'not this key'))
    expect(await h.manager.adopt('sealed')).toBe('kept')
    expect(await h.manager.sweepIdle(Date.now() + 10 * h.config.sessionIdleMs)).toBe(0)
    expect(h.manager.has('sealed')).toBe(true)
    expect(store.accounts.has('sealed')).toBe(true)
  })

  it('leaving a room restarts the idle clock of its session', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(T0)
    const h = managerHarness({ env: { SESSION_IDLE_MS: '60000' } })
    await h.requestLink('left')
    vi.setSystemTime(T0 + 50_000)
    h.manager.touch('left')
    expect(() => h.manager.touch('unknown')).not.toThrow()
    expect(await h.manager.sweepIdle(T0 + 60_000)).toBe(0)
    expect(await h.manager.sweepIdle(T0 + 110_000)).toBe(1)
  })

  it('in a fleet, only idle unlinked sessions are checked with the other hubs, and one watched there is kept', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(T0)
    const h = managerHarness({ env: { SESSION_IDLE_MS: '60000' } })
    const asked: string[] = []
    h.room.broadcaster.watchedElsewhere = async (id) => {
      asked.push(id)
      return id === 'watched'
    }
    await linkAna(h, 'linked')
    await h.requestLink('watched')
    await h.requestLink('idle')
    vi.setSystemTime(T0 + 30_000)
    await h.requestLink('fresh')
    expect(await h.manager.sweepIdle(T0 + 60_000)).toBe(1)
    expect(asked.sort()).toEqual(['idle', 'watched'])
    expect(h.manager.has('idle')).toBe(false)
    for (const id of ['linked', 'watched', 'fresh']) expect(h.manager.has(id)).toBe(true)
  })

  it('a session linked while the fleet was asked whether anyone watches it is kept', async () => {
    const h = managerHarness()
    const answer = deferred<boolean>()
    h.room.broadcaster.watchedElsewhere = () => answer.promise
    await h.requestLink('racer')
    const sweeping = h.manager.sweepIdle(Date.now() + h.config.sessionIdleMs)
    await settle()
    await h.hand.sink('racer').authenticated(ana)
    answer.resolve(false)
    expect(await sweeping).toBe(0)
    expect(h.manager.status('racer')).toMatchObject({ status: 'authenticated', user: ana })
    expect(await h.store.account('racer').get('record')).toBeDefined()
  })

  it('a session handed to another hub while the fleet was asked about it keeps its data for that hub', async () => {
    const lease = switchableOwnership()
    const h = managerHarness({ ownership: lease.ownership })
    const answer = deferred<boolean>()
    h.room.broadcaster.watchedElsewhere = () => answer.promise
    await h.requestLink('moved')
    await h.hand.links[0]!.session.store.write([['creds', Buffer.from('half a link')]])
    const sweeping = h.manager.sweepIdle(Date.now() + h.config.sessionIdleMs)
    await settle()
    lease.lost.add('moved')
    h.manager.evict('moved')
    answer.resolve(false)
    expect(await sweeping).toBe(0)
    await settle()
    expect(h.store.accounts.has('moved')).toBe(true)
    expect(lease.released).toEqual([])
    expect(h.room.events('moved')).not.toContain('disconnected')
  })

  it('with a long SESSION_IDLE_MS the sweep runs every 30 s: idle sessions go soon after their time, without constant sweeps', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] })
    vi.setSystemTime(T0)
    const h = managerHarness({ env: { SESSION_IDLE_MS: '600000' } })
    let sweeps = 0
    const count = h.room.broadcaster.subscriberCount
    h.room.broadcaster.subscriberCount = (id) => {
      sweeps += 1
      return count(id)
    }
    await h.requestLink('idle')
    h.manager.startIdleSweeper()
    await vi.advanceTimersByTimeAsync(60_000)
    expect(sweeps).toBe(2)
    await vi.advanceTimersByTimeAsync(570_000)
    expect(h.manager.has('idle')).toBe(false)
    await h.manager.stop()
  })

  it('an idle sweep that fails is logged, and the next one does the work', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] })
    vi.setSystemTime(T0)
    const log = recordingLogger()
    const h = managerHarness({ env: { SESSION_IDLE_MS: '1000' }, logger: log.logger })
    let answers = 0
    h.room.broadcaster.watchedElsewhere = async () => {
      answers += 1
      if (answers === 1) throw new Error('redis down')
      return false
    }
    await h.requestLink('idle')
    h.manager.startIdleSweeper()
    await vi.advanceTimersByTimeAsync(1000)
    expect(h.manager.has('idle')).toBe(true)
    expect(log.find('Idle cleanup failed; it runs again later')).toMatchObject([
      { level: 'warn', fields: { error: { message: 'redis down' } } },
    ])
    await vi.advanceTimersByTimeAsync(250)
    expect(h.manager.has('idle')).toBe(false)
    await h.manager.stop()
  })
})

describe('stopping', () => {
  it('get_qr on a stopping hub is refused with a hint to try again', async () => {
    const h = managerHarness()
    await h.manager.stop()
    await expect(h.requestLink('late')).rejects.toMatchObject({
      code: 'unavailable',
      message: 'The hub is stopping; try again',
    })
    expect(h.hand.calls).toEqual(['shutdown'])
    expect(h.manager.has('late')).toBe(false)
  })

  it('after the hub stopped, not even a link that had ended before can speak', async () => {
    const h = managerHarness()
    await h.requestLink('ended')
    const sink = h.hand.sink('ended')
    sink.disconnected('qr_timeout')
    await settle()
    await h.manager.stop()
    const before = h.room.sent.length
    sink.qr(qr('after the end'))
    expect(h.room.sent.slice(before)).toEqual([])
    expect(h.manager.status('ended')).toMatchObject({
      status: 'disconnected',
      reason: 'qr_timeout',
    })
  })
})

describe('get_qr and subscribe', () => {
  it('get_qr for a session another hub holds is refused as unavailable, for the caller to forward', async () => {
    const lease = switchableOwnership()
    lease.lost.add('theirs')
    const h = managerHarness({ ownership: lease.ownership })
    const refused = h.requestLink('theirs')
    await expect(refused).rejects.toBeInstanceOf(OwnedElsewhereError)
    await expect(refused).rejects.toMatchObject({
      name: 'OwnedElsewhereError',
      code: 'unavailable',
      message: 'Another hub owns this session',
      sessionId: 'theirs',
    })
    expect(h.manager.has('theirs')).toBe(false)
    expect(h.hand.calls).toEqual([])
    expect(h.joined).toEqual([])
  })

  it('a second get_qr while the first link waits for its first code joins it, without a new link', async () => {
    const h = managerHarness()
    const first = await h.requestLink('wait')
    expect(first.status).toMatchObject({ status: 'pending', health: 'ok' })
    const second = await h.requestLink('wait')
    expect(second).toEqual({ status: expect.objectContaining({ status: 'pending' }) })
    expect(h.hand.calls).toEqual(['link wait'])
    expect(h.joined).toEqual(['wait', 'wait'])
  })

  it('get_qr after the shown QR expired, with no new one yet, starts a new link', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(T0)
    const h = managerHarness()
    await h.requestLink('stale')
    h.hand.sink('stale').qr(qr('expired soon'))
    vi.setSystemTime(T0 + 60_001)
    const answer = await h.requestLink('stale')
    expect(answer.replay).toBeUndefined()
    expect(h.hand.calls).toEqual(['link stale', 'close stale', 'link stale'])
    expect(answer.status.status).toBe('pending')
  })

  it('a late subscriber sees the live QR, but not one that has expired', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(T0)
    const h = managerHarness()
    await h.requestLink('scan')
    h.hand.sink('scan').qr(qr('live code'))
    vi.setSystemTime(T0 + 59_999)
    expect(h.manager.subscribe('scan', h.join).replay).toMatchObject({
      event: 'qr_code',
      payload: { qr_data: 'live code' },
    })
    vi.setSystemTime(T0 + 60_000)
    expect(h.manager.subscribe('scan', h.join).replay).toBeUndefined()
  })

  it('a late subscriber to a pairing link sees the live pairing code, but not once it expired', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(T0)
    const h = managerHarness()
    await h.requestLink('pair', '34600111222')
    h.hand.sink('pair').pairingCode('ABCD2345', 60_000)
    vi.setSystemTime(T0 + 59_999)
    expect(h.manager.subscribe('pair', h.join).replay).toEqual({
      event: 'pairing_code',
      payload: expect.objectContaining({ type: 'pairing_code', code: 'ABCD2345' }),
    })
    vi.setSystemTime(T0 + 60_000)
    expect(h.manager.subscribe('pair', h.join).replay).toBeUndefined()
  })

  it('two get_qr for the same new session at once share one link', async () => {
    const h = managerHarness()
    const answers = await Promise.all([h.requestLink('twin'), h.requestLink('twin')])
    expect(answers.map((a) => a.status.status)).toEqual(['pending', 'pending'])
    expect(h.hand.calls).toEqual(['link twin'])
    expect(h.joined).toEqual(['twin', 'twin'])
  })

  it('two get_qr racing for the last place on the hub: one gets it, the other hears limit_reached and gives its lease back', async () => {
    const lease = switchableOwnership()
    const h = managerHarness({ env: { MAX_SESSIONS: '1' }, ownership: lease.ownership })
    const [a, b] = await Promise.allSettled([h.requestLink('a'), h.requestLink('b')])
    expect(a.status).toBe('fulfilled')
    expect(b).toMatchObject({ status: 'rejected', reason: { code: 'limit_reached' } })
    expect(h.manager.size).toBe(1)
    expect(h.manager.has('b')).toBe(false)
    expect(lease.released).toEqual(['b'])
    expect(h.hand.calls).toEqual(['link a'])
  })

  it('a full fleet hub refuses get_qr for a stored session rather than take it over beyond MAX_SESSIONS', async () => {
    const store = new MemoryStore()
    await storeLink(store, 'stored')
    const lease = countingOwnership()
    const h = managerHarness({
      env: { MAX_SESSIONS: '1' },
      store,
      ownership: lease.ownership,
      restoreOnRequest: true,
    })
    await h.requestLink('first')
    await expect(h.requestLink('stored')).rejects.toMatchObject({ code: 'limit_reached' })
    expect(h.manager.size).toBe(1)
    expect(h.hand.calls).toEqual(['link first'])
    expect(lease.claimed).toEqual(['first'])
    expect(store.accounts.has('stored')).toBe(true)
  })

  it('with a provider that has no pairing codes, a phone number still gets a QR link', async () => {
    const hand = handProvider({ supportsPairingCode: false })
    const h = managerHarness({ provider: hand.provider })
    await h.requestLink('nopair', '34600111222')
    expect(hand.links).toHaveLength(1)
    expect(hand.links[0]!.options?.phoneNumber).toBeUndefined()
    hand.sink('nopair').qr(qr('scan me'))
    expect(h.manager.status('nopair').message).toBe(
      'Scan the QR code with WhatsApp → Linked devices',
    )
  })
})

describe('links waiting for a scan, per connection (MAX_PENDING_PER_CLIENT)', () => {
  const oneEach = { env: { MAX_PENDING_PER_CLIENT: '1' } }

  it('links started over the HTTP API are not limited per connection', async () => {
    const h = managerHarness(oneEach)
    await h.requestLink('http-1')
    await h.requestLink('http-2')
    expect(h.hand.calls).toEqual(['link http-1', 'link http-2'])
  })

  it("a connection's place is freed once its link is linked, ended, or removed for idleness", async () => {
    const h = managerHarness(oneEach)
    await h.requestLink('a', undefined, 'c1')
    await expect(h.requestLink('b', undefined, 'c1')).rejects.toMatchObject({
      code: 'limit_reached',
    })
    await h.hand.sink('a').authenticated(ana)
    await h.requestLink('b', undefined, 'c1')
    h.hand.sink('b').disconnected('qr_timeout')
    await settle()
    await h.requestLink('c', undefined, 'c1')
    expect(await h.manager.sweepIdle(Date.now() + h.config.sessionIdleMs)).toBe(2)
    await h.requestLink('d', undefined, 'c1')
    expect(h.manager.status('d').status).toBe('pending')
  })

  it('a link taken over by another connection no longer counts for the first', async () => {
    const h = managerHarness(oneEach)
    await h.requestLink('shared', undefined, 'c1')
    await h.requestLink('shared', '34600111222', 'c2')
    await h.requestLink('own', undefined, 'c1')
    expect(h.hand.calls).toEqual(['link shared', 'close shared', 'link shared', 'link own'])
  })

  it('the places of a connection that left are forgotten', async () => {
    const h = managerHarness(oneEach)
    await h.requestLink('a', undefined, 'c1')
    h.manager.forgetClient('c1')
    await h.requestLink('b', undefined, 'c1')
    expect(h.hand.calls).toEqual(['link a', 'link b'])
  })
})

describe('disconnect_whatsapp', () => {
  it('a logout that fails still deletes the credentials, and the operator is told', async () => {
    const log = recordingLogger()
    const h = managerHarness({ logger: log.logger })
    await linkAna(h, 'bye')
    h.hand.provider.logout = () => Promise.reject(new Error('no connection'))
    const status = await h.manager.disconnect('bye')
    expect(status).toMatchObject({ status: 'disconnected', reason: 'logout' })
    expect(h.store.accounts.has('bye')).toBe(false)
    expect(log.find('Provider logout failed; removing the credentials anyway')).toMatchObject([
      { level: 'warn', fields: { session_id: 'bye', error: { message: 'no connection' } } },
    ])
  })

  it('disconnecting a link that already ended does not log it out again', async () => {
    const h = managerHarness()
    await h.requestLink('over')
    h.hand.sink('over').disconnected('qr_timeout')
    await settle()
    await h.manager.disconnect('over')
    expect(h.hand.calls).toEqual(['link over'])
    expect(h.manager.status('over')).toMatchObject({ status: 'disconnected', reason: 'logout' })
  })
})

describe('sending messages', () => {
  it('a message on a session not linked is refused as not linked', async () => {
    const h = managerHarness()
    await h.requestLink('unlinked')
    await expect(h.manager.sendMessage('unlinked', '34600999888', 'hi')).rejects.toMatchObject({
      code: 'not_authenticated',
      message: 'this session is not linked to a WhatsApp account',
    })
    expect(h.hand.calls).toEqual(['link unlinked'])
  })

  it('a message sent just as the link ends is refused, not sent', async () => {
    const h = managerHarness()
    await linkAna(h, 'ending')
    // The phone removed the link: its end is announced once the credentials are deleted (the
    // memory store does that at once), which comes before the message may go out.
    h.hand.sink('ending').disconnected('logged_out_remote')
    const sending = h.manager.sendMessage('ending', '34600999888', 'too late')
    await expect(sending).rejects.toMatchObject({
      code: 'not_authenticated',
      message: 'the session was unlinked before the message went out',
    })
    expect(h.hand.calls).not.toContain('send ending')
  })

  it('a send that fails inside the provider is reported as provider_error, and logged', async () => {
    const log = recordingLogger()
    const h = managerHarness({ logger: log.logger })
    await linkAna(h, 'sender')
    h.hand.provider.sendMessage = () => Promise.reject(new TypeError('socket is null'))
    await expect(h.manager.sendMessage('sender', '34600999888', 'hi')).rejects.toMatchObject({
      code: 'provider_error',
      message: 'WhatsApp did not accept the message',
      sessionId: 'sender',
    })
    expect(log.find('Sending a message failed')).toMatchObject([
      { level: 'error', fields: { session_id: 'sender', error: { message: 'socket is null' } } },
    ])
  })
})

describe('simulator controls', () => {
  function simulated() {
    const silenced: [string, boolean][] = []
    const delivered: string[] = []
    const simulator: Simulator = {
      scan: async () => 'ok',
      deliver: (sessionId, from, text) => {
        delivered.push(text)
        return { id: 'SIM1', from, text, kind: 'text', timestamp: new Date() }
      },
      silence: (sessionId, silent) => void silenced.push([sessionId, silent]),
    }
    const hand = handProvider({ simulator })
    return { h: managerHarness({ provider: hand.provider }), hand, silenced, delivered }
  }

  it('simulated messages and silence need a linked session', async () => {
    const { h, silenced, delivered } = simulated()
    await h.requestLink('unlinked')
    const notLinked = {
      code: 'not_authenticated',
      message: 'this session is not linked to a WhatsApp account',
    }
    expect(thrown(() => h.manager.simulateMessage('unlinked', '34600999888', 'hi'))).toMatchObject(
      notLinked,
    )
    expect(thrown(() => h.manager.simulateSilence('unlinked', true))).toMatchObject(notLinked)
    expect(delivered).toEqual([])
    expect(silenced).toEqual([])
  })

  it('silence on a linked session reaches the simulated WhatsApp', async () => {
    const { h, hand, silenced } = simulated()
    await h.requestLink('linked')
    await hand.sink('linked').authenticated(ana)
    expect(h.manager.simulateSilence('linked', true)).toBe('ok')
    expect(silenced).toEqual([['linked', true]])
  })
})
