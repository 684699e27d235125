import { afterEach, describe, expect, it, vi } from 'vitest'
import { silentLogger } from '../../server/logger'
import { DISCONNECT_MESSAGES, TIMELINE_MAX, type StatusEvent } from '../../server/protocol'
import type { ProviderQr } from '../../server/providers/provider'
import type { QrRenderer } from '../../server/qr-renderer'
import { emptyCounts } from '../../server/sessions/session-manager'
import { SessionStore } from '../../server/sessions/session-store'
import { MemoryStore } from '../helpers/memory-store'
import { recordingLogger } from '../helpers/logger'
import { managerHarness } from '../helpers/session-manager'

const ana = { id: '34600111222@s.whatsapp.net', name: 'Ana' }
const bob = { id: '34600333444@s.whatsapp.net', name: 'Bob' }
const qr = (data: string, attempt = 1): ProviderQr => ({
  data,
  ttlMs: 60_000,
  attempt,
  attemptsMax: 6,
})
/** More than a QR code can hold: rendering it throws, which fails the session. */
const unrenderable = () => qr('x'.repeat(8000))

/** Lets pending promise callbacks (store writes, removals) run. */
const settle = () => new Promise((resolve) => setImmediate(resolve))

/** A store holding the record of an account `id` linked by this hub's provider, long ago. */
async function storedLink(id: string) {
  const store = new MemoryStore()
  await new SessionStore(store, silentLogger)
    .open(id)
    .save({ id, provider: 'simulated', user: ana, linked_at: new Date(0).toISOString() })
  return store
}

async function storedJson(store: MemoryStore, id: string, key: string): Promise<unknown> {
  const value = await store.account(id).get(key)
  return value === undefined ? undefined : JSON.parse(value.toString('utf8'))
}

/** The counts by status that the hub's sessions add up to. */
function tally(statuses: StatusEvent[]) {
  const counts = emptyCounts()
  for (const { status } of statuses) counts[status] += 1
  return counts
}

/** A harness whose session is linked to Ana. */
async function linked(id: string, options: Parameters<typeof managerHarness>[0] = {}) {
  const h = managerHarness(options)
  await h.requestLink(id)
  await h.hand.sink(id).authenticated(ana)
  return h
}

/**
 * A SessionManager whose QR codes are rendered elsewhere (like the render thread): each render
 * waits until the test settles it.
 */
function renderThreadHarness() {
  const renders: { data: string; resolve(image: string): void; reject(error: Error): void }[] = []
  const qrRenderer: QrRenderer = {
    render: (data) => new Promise((resolve, reject) => renders.push({ data, resolve, reject })),
    close: async () => undefined,
  }
  return { ...managerHarness({ qrRenderer }), renders }
}

afterEach(() => {
  vi.useRealTimers()
})

describe('what a client hears while linking', () => {
  it('each QR code says which attempt it is, and the status says to scan it', async () => {
    const h = managerHarness()
    await h.requestLink('scan')
    expect(h.manager.status('scan').message).toMatch(/waiting for whatsapp/i)
    h.hand.sink('scan').qr(qr('first', 1))
    h.hand.sink('scan').qr(qr('second', 2))
    const codes = h.room.payloads('scan', 'qr_code')
    expect(codes.map((c) => c.qr_data)).toEqual(['first', 'second'])
    expect(codes[0]!.message).toMatch(/1 of 6/)
    expect(codes[1]!.message).toMatch(/2 of 6/)
    expect(h.manager.status('scan')).toMatchObject({ status: 'qr_ready', reconnecting: false })
    expect(h.manager.status('scan').message).toMatch(/scan the qr code/i)
  })

  it('a pairing code is shown with its expiry, and the status says to enter it on the phone', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(new Date('2026-03-01T10:00:00.000Z'))
    const h = managerHarness()
    await h.requestLink('pair', '34600111222')
    h.hand.sink('pair').pairingCode('ABCD2345', 120_000)
    const [code] = h.room.payloads('pair', 'pairing_code')
    expect(code).toMatchObject({ code: 'ABCD2345', session_id: 'pair' })
    expect(Date.parse(code!.expires_at) - Date.parse('2026-03-01T10:00:00.000Z')).toBe(120_000)
    expect(code!.message).toMatch(/link with phone number/i)
    const status = h.manager.status('pair')
    expect(status.status).toBe('qr_ready')
    expect(status.message).toMatch(/pairing code/i)
    expect(h.changes.at(-1)).toMatchObject({ status: 'qr_ready', message: status.message })
    // A second request in the same mode joins the link under way and sees its code.
    const again = await h.requestLink('pair', '34600111222')
    expect(again.replay).toMatchObject({ event: 'pairing_code', payload: { code: 'ABCD2345' } })
    expect(h.hand.calls).toEqual(['link pair'])
  })

  it('a client hears a status only when something it shows changes', async () => {
    const h = managerHarness()
    // The caller has the pending status in its answer: starting the link pushes none.
    await h.requestLink('quiet')
    expect(h.changes).toEqual([])
    const sink = h.hand.sink('quiet')
    sink.qr(qr('one', 1))
    sink.qr(qr('two', 2))
    expect(h.changes.map((c) => c.status)).toEqual(['qr_ready'])
    await sink.authenticated(ana)
    // Confirmed again while connected and healthy: nothing a client sees has changed.
    await sink.authenticated(ana)
    sink.health('ok')
    sink.reconnecting(false)
    expect(h.changes.map((c) => c.status)).toEqual(['qr_ready', 'authenticated'])
    expect(h.room.payloads('quiet', 'status')).toEqual(h.changes)
    await h.manager.disconnect('quiet')
    await h.manager.disconnect('quiet')
    expect(h.changes.map((c) => c.status)).toEqual(['qr_ready', 'authenticated', 'disconnected'])
  })

  it("the hub's counts by status follow its sessions through a link's life", async () => {
    const h = managerHarness()
    const check = () => expect(h.manager.countByStatus()).toEqual(tally(h.manager.list()))
    await h.requestLink('a')
    await h.requestLink('b')
    check()
    h.hand.sink('a').qr(qr('a'))
    check()
    await h.hand.sink('a').authenticated(ana)
    check()
    h.hand.sink('a').reconnecting(true, { code: 428 })
    check()
    h.hand.sink('a').health('degraded', 'silent')
    check()
    await h.manager.disconnect('b')
    check()
    expect(h.manager.countByStatus()).toMatchObject({ authenticated: 1, disconnected: 1 })
  })

  it('asking about a session that does not exist says which one', () => {
    const h = managerHarness()
    let error: unknown
    try {
      h.manager.status('nobody')
    } catch (thrown) {
      error = thrown
    }
    expect(error).toMatchObject({
      code: 'unknown_session',
      message: expect.stringContaining('nobody'),
    })
  })
})

describe('QR codes rendered off the main thread', () => {
  it('a QR is shown once rendered, timed from when WhatsApp issued it', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const issued = new Date('2026-03-01T10:00:00.000Z')
    vi.setSystemTime(issued)
    const h = renderThreadHarness()
    await h.requestLink('slow')
    h.hand.sink('slow').qr(qr('to-render'))
    expect(h.renders.map((r) => r.data)).toEqual(['to-render'])
    // Nothing is shown before the image exists.
    expect(h.room.events('slow')).toEqual([])
    vi.setSystemTime(issued.getTime() + 1500)
    h.renders[0]!.resolve('data:image/png;base64,UkVOREVSRUQ=')
    await settle()
    expect(h.room.payloads('slow', 'qr_code')).toMatchObject([
      {
        qr_data: 'to-render',
        qr_image: 'data:image/png;base64,UkVOREVSRUQ=',
        issued_at: issued.toISOString(),
        expires_at: new Date(issued.getTime() + 60_000).toISOString(),
      },
    ])
    expect(h.manager.status('slow').status).toBe('qr_ready')
  })

  it('a QR still being rendered when its link is replaced is never shown', async () => {
    const h = renderThreadHarness()
    await h.requestLink('moved')
    h.hand.sink('moved').qr(qr('old link'))
    await h.requestLink('moved', '34600111222')
    h.renders[0]!.resolve('data:image/png;base64,T0xE')
    await settle()
    expect(h.room.events('moved')).not.toContain('qr_code')
    expect(h.manager.status('moved').status).toBe('pending')
  })

  it('a QR that cannot be rendered fails its session, and its room hears why', async () => {
    const h = renderThreadHarness()
    await h.requestLink('broken')
    h.hand.sink('broken').qr(qr('cannot draw'))
    h.renders[0]!.reject(new Error('render thread died'))
    await settle()
    expect(h.room.payloads('broken', 'error')).toMatchObject([{ code: 'provider_error' }])
    expect(h.manager.status('broken')).toMatchObject({ status: 'disconnected', reason: 'failed' })
  })

  it('a render that fails after its link was disconnected fails nothing', async () => {
    const h = renderThreadHarness()
    await h.requestLink('gone')
    h.hand.sink('gone').qr(qr('too late'))
    await h.manager.disconnect('gone')
    h.renders[0]!.reject(new Error('render thread died'))
    await settle()
    expect(h.room.events('gone')).not.toContain('error')
    expect(h.manager.status('gone')).toMatchObject({ status: 'disconnected', reason: 'logout' })
  })
})

describe('a new link starts from scratch', () => {
  it('a QR link replaced by a pairing-code link leaves the new link no credentials of the old', async () => {
    const h = managerHarness()
    await h.requestLink('switch')
    await h.hand.links[0]!.session.store.write([['creds', Buffer.from('half a QR link')]])
    await h.requestLink('switch', '34600111222')
    expect(await h.hand.links[1]!.session.store.keys()).toEqual([])
  })

  it("a link asked for after a failed one starts without the failed link's credentials", async () => {
    const h = managerHarness()
    await h.requestLink('retry')
    await h.hand.links[0]!.session.store.write([['creds', Buffer.from('half a link')]])
    h.hand.sink('retry').qr(unrenderable())
    expect(h.manager.status('retry')).toMatchObject({ status: 'disconnected', reason: 'failed' })
    await h.requestLink('retry')
    expect(await h.hand.links[1]!.session.store.keys()).toEqual([])
    expect(h.store.account('retry').values.size).toBe(0)
  })

  it('a failed link speaks no more once a new link started', async () => {
    const h = managerHarness()
    await h.requestLink('again')
    h.hand.sink('again').qr(unrenderable())
    await h.requestLink('again')
    h.hand.sink('again', 1).qr(qr('from the failed link'))
    expect(h.room.events('again')).not.toContain('qr_code')
    expect(h.manager.status('again').status).toBe('pending')
  })

  it('a link that ended on its own speaks no more once a new link started', async () => {
    const h = managerHarness()
    await h.requestLink('timeout')
    h.hand.sink('timeout').qr(qr('first'))
    h.hand.sink('timeout').disconnected('qr_timeout')
    await settle()
    expect(h.manager.status('timeout')).toMatchObject({
      status: 'disconnected',
      reason: 'qr_timeout',
    })
    await h.requestLink('timeout')
    h.hand.sink('timeout', 1).qr(qr('from the ended link', 2))
    expect(h.room.payloads('timeout', 'qr_code').map((c) => c.qr_data)).toEqual(['first'])
    expect(h.manager.status('timeout').status).toBe('pending')
  })

  it('a link asked for again just as the previous one timed out is not cut off by that timeout', async () => {
    const h = managerHarness()
    await h.requestLink('race')
    h.hand.sink('race').qr(qr('expiring'))
    h.hand.sink('race').disconnected('qr_timeout')
    // Asked for before the hub has announced the end (its credentials are still being deleted).
    const answer = await h.requestLink('race')
    await settle()
    expect(answer.replay).toBeUndefined()
    expect(h.hand.calls).toEqual(['link race', 'link race'])
    expect(h.room.events('race')).not.toContain('disconnected')
    h.hand.sink('race').qr(qr('fresh'))
    expect(h.manager.status('race').status).toBe('qr_ready')
  })
})

describe('a link that fails', () => {
  it('the operator sees which session the provider failed, and why', async () => {
    const log = recordingLogger()
    const h = managerHarness({ logger: log.logger })
    await h.requestLink('bad')
    h.hand.sink('bad').qr(unrenderable())
    expect(log.entries).toContainEqual({
      level: 'error',
      message: expect.stringMatching(/provider failed/i),
      fields: { session_id: 'bad', error: expect.any(Error) },
    })
  })

  it("a failed link no longer counts toward its client's links waiting for a scan", async () => {
    const h = managerHarness({ env: { MAX_PENDING_PER_CLIENT: '1' } })
    await h.requestLink('first', undefined, 'client-1')
    await expect(h.requestLink('second', undefined, 'client-1')).rejects.toMatchObject({
      code: 'limit_reached',
    })
    h.hand.sink('first').qr(unrenderable())
    const answer = await h.requestLink('second', undefined, 'client-1')
    expect(answer.status.status).toBe('pending')
  })

  it('a record write that fails after the client disconnected the link reports no failure', async () => {
    const h = managerHarness()
    await h.requestLink('late-write')
    let failWrite: (error: Error) => void = () => undefined
    h.store.account('late-write').write = () =>
      new Promise<void>((_, reject) => {
        failWrite = reject
      })
    const confirmed = h.hand.sink('late-write').authenticated(ana)
    await settle()
    await h.manager.disconnect('late-write')
    failWrite(new Error('disk gone'))
    await expect(confirmed).rejects.toThrow('disk gone')
    expect(h.room.events('late-write')).not.toContain('error')
    expect(h.manager.status('late-write')).toMatchObject({
      status: 'disconnected',
      reason: 'logout',
    })
  })
})

describe('an account linked, reconnected and dropped, and its timeline', () => {
  it('a new link is stored, announced with the account, and starts the timeline', async () => {
    const log = recordingLogger()
    const h = managerHarness({ logger: log.logger })
    await h.requestLink('new')
    h.hand.sink('new').qr(qr('scan me'))
    await h.hand.sink('new').authenticated(ana)
    expect(await storedJson(h.store, 'new', 'record')).toMatchObject({ id: 'new', user: ana })
    expect(h.room.payloads('new', 'authenticated')).toMatchObject([
      { user: ana, message: expect.stringContaining(ana.name) },
    ])
    const status = h.manager.status('new')
    expect(status).toMatchObject({
      status: 'authenticated',
      authenticated: true,
      reconnecting: false,
      health: 'ok',
      user: ana,
    })
    expect(status.message).toContain(ana.name)
    const timeline = h.manager.timeline('new')
    expect(timeline).toEqual([
      {
        at: expect.any(String),
        event: 'linked',
        text: expect.stringContaining(ana.name),
        action: 'none',
      },
    ])
    expect(await storedJson(h.store, 'new', 'timeline')).toEqual(timeline)
    expect(log.entries).toContainEqual({
      level: 'info',
      message: expect.stringMatching(/authenticated/i),
      fields: { session_id: 'new', user: ana.id },
    })
  })

  it('a stored account that reconnects keeps its link date and notes a reconnection, not a new link', async () => {
    const log = recordingLogger()
    const store = await storedLink('back')
    const h = managerHarness({ store, logger: log.logger })
    expect(await h.manager.load()).toBe(1)
    expect(h.manager.status('back')).toMatchObject({ status: 'authenticated', reconnecting: true })
    expect(h.manager.status('back').message).toMatch(/reconnecting/i)
    await h.hand.sink('back').authenticated(ana)
    expect(await storedJson(store, 'back', 'record')).toMatchObject({
      linked_at: new Date(0).toISOString(),
    })
    expect(h.manager.status('back')).toMatchObject({ reconnecting: false, health: 'ok', user: ana })
    expect(h.manager.status('back').message).toContain(ana.name)
    expect(h.manager.timeline('back')).toEqual([
      {
        at: expect.any(String),
        event: 'connected',
        text: expect.stringMatching(/again/),
        action: 'none',
      },
    ])
    expect(h.room.payloads('back', 'authenticated')).toMatchObject([{ user: ana }])
    expect(log.entries).toContainEqual({
      level: 'info',
      message: expect.stringMatching(/reconnected/i),
      fields: { session_id: 'back', user: ana.id },
    })
  })

  it('a linked session confirmed as another account is stored and shown as that account', async () => {
    const h = await linked('swap')
    await h.hand.sink('swap').authenticated(bob)
    expect(h.manager.status('swap').user).toEqual(bob)
    expect(h.changes.at(-1)).toMatchObject({ user: bob })
    expect(await storedJson(h.store, 'swap', 'record')).toMatchObject({ user: bob })
    expect(h.manager.timeline('swap').at(-1)).toMatchObject({
      event: 'linked',
      text: expect.stringContaining(bob.name),
    })
  })

  it("a drop of a linked account is noted with WhatsApp's code and when the hub tries again", async () => {
    const h = await linked('drop')
    const sink = h.hand.sink('drop')
    sink.reconnecting(true, { code: 428, message: 'Connection Closed', retryInMs: 4000 })
    expect(h.manager.status('drop')).toMatchObject({ status: 'authenticated', reconnecting: true })
    expect(h.manager.status('drop').message).toMatch(/reconnecting/i)
    expect(h.manager.timeline('drop').at(-1)).toEqual({
      at: expect.any(String),
      event: 'dropped',
      code: 428,
      text: 'Connection Closed',
      action: 'reconnecting in 4 s',
    })
    sink.reconnecting(false)
    expect(h.manager.status('drop').reconnecting).toBe(false)
    expect(h.manager.status('drop').message).toContain(ana.name)
    // Coming back is not another drop.
    expect(h.manager.timeline('drop').map((e) => e.event)).toEqual(['linked', 'dropped'])
    expect(await storedJson(h.store, 'drop', 'timeline')).toEqual(h.manager.timeline('drop'))
  })

  it('a drop without details says the connection was lost; a retry under a second says 1 s', async () => {
    const h = await linked('vague')
    const sink = h.hand.sink('vague')
    sink.reconnecting(true)
    expect(h.manager.timeline('vague').at(-1)).toMatchObject({
      event: 'dropped',
      text: expect.stringMatching(/lost/),
      action: 'reconnecting',
    })
    sink.reconnecting(true, { retryInMs: 200 })
    expect(h.manager.timeline('vague').at(-1)).toMatchObject({ action: 'reconnecting in 1 s' })
  })

  it('drops while a device is still being linked stay out of the timeline', async () => {
    const h = managerHarness()
    await h.requestLink('early')
    h.hand.sink('early').qr(qr('scanned'))
    h.hand.sink('early').reconnecting(true, { code: 515, message: 'restart required' })
    expect(h.manager.timeline('early')).toEqual([])
    await h.hand.sink('early').authenticated(ana)
    expect(h.manager.timeline('early').map((e) => e.event)).toEqual(['linked'])
  })

  it('the timeline keeps the last TIMELINE_MAX events, the oldest going first', async () => {
    const h = await linked('chatty')
    const before = h.manager.timeline('chatty').map((e) => e.text)
    const drops = Array.from({ length: TIMELINE_MAX + 5 }, (_, i) => `drop ${i + 1}`)
    for (const message of drops) h.hand.sink('chatty').reconnecting(true, { message })
    expect(h.manager.timeline('chatty').map((e) => e.text)).toEqual(
      [...before, ...drops].slice(-TIMELINE_MAX),
    )
  })

  it('a timeline that cannot be stored is reported to the operator, and the link stands', async () => {
    const log = recordingLogger()
    const h = managerHarness({ logger: log.logger })
    await h.requestLink('full')
    const account = h.store.account('full')
    const write = account.write.bind(account)
    account.write = (changes) => {
      const list = [...changes]
      return list.some(([key]) => key === 'timeline')
        ? Promise.reject(new Error('disk full'))
        : write(list)
    }
    await h.hand.sink('full').authenticated(ana)
    await settle()
    expect(h.manager.status('full').status).toBe('authenticated')
    expect(await storedJson(h.store, 'full', 'record')).toMatchObject({ user: ana })
    expect(log.entries).toContainEqual({
      level: 'warn',
      message: expect.stringMatching(/timeline/),
      fields: { session_id: 'full', error: expect.objectContaining({ message: 'disk full' }) },
    })
  })
})

describe('account health', () => {
  it('an account gone silent is shown degraded with the reason, noted once, and the operator warned', async () => {
    const log = recordingLogger()
    const h = await linked('zombie', { logger: log.logger })
    const sink = h.hand.sink('zombie')
    const reason = 'No answer from WhatsApp for 60 s'
    sink.health('degraded', reason)
    expect(h.manager.status('zombie')).toMatchObject({ health: 'degraded', health_reason: reason })
    expect(h.changes.at(-1)).toMatchObject({ health: 'degraded', health_reason: reason })
    sink.health('degraded', 'No answer from WhatsApp for 90 s')
    expect(h.manager.status('zombie').health_reason).toBe(reason)
    expect(h.manager.timeline('zombie').slice(1)).toEqual([
      {
        at: expect.any(String),
        event: 'degraded',
        text: reason,
        action: expect.stringMatching(/watching/),
      },
    ])
    expect(await storedJson(h.store, 'zombie', 'timeline')).toEqual(h.manager.timeline('zombie'))
    expect(log.entries.filter((l) => l.level === 'warn')).toEqual([
      {
        level: 'warn',
        message: expect.stringMatching(/degraded/i),
        fields: { session_id: 'zombie', reason },
      },
    ])
  })

  it('an account gone silent without a reason given is still shown degraded', async () => {
    const h = await linked('mute')
    h.hand.sink('mute').health('degraded')
    expect(h.manager.status('mute')).toMatchObject({ health: 'degraded' })
    expect(h.changes.at(-1)).toMatchObject({ health: 'degraded' })
    expect(h.manager.timeline('mute').at(-1)).toMatchObject({
      event: 'degraded',
      text: expect.stringMatching(/silent/),
    })
  })

  it('an account that answers again is healthy, with no reason left over, and the timeline says so', async () => {
    const log = recordingLogger()
    const h = await linked('awake', { logger: log.logger })
    const sink = h.hand.sink('awake')
    sink.health('degraded', 'No answer from WhatsApp for 60 s')
    sink.health('ok', 'frames flow again')
    const status = h.manager.status('awake')
    expect(status.health).toBe('ok')
    expect(status).not.toHaveProperty('health_reason')
    expect(h.changes.at(-1)).toMatchObject({ health: 'ok' })
    expect(h.manager.timeline('awake').at(-1)).toEqual({
      at: expect.any(String),
      event: 'recovered',
      text: expect.stringMatching(/answers again/),
      action: 'none',
    })
    expect(log.entries.filter((l) => l.level === 'warn').map((l) => l.message)).toEqual([
      expect.stringMatching(/degraded/i),
      expect.stringMatching(/healthy/i),
    ])
  })

  it('health reports for a session that is not linked change nothing', async () => {
    const h = managerHarness()
    await h.requestLink('unlinked')
    h.hand.sink('unlinked').health('degraded', 'silent')
    expect(h.manager.status('unlinked')).toMatchObject({ status: 'pending', health: 'ok' })
    expect(h.changes).toEqual([])
    expect(h.manager.timeline('unlinked')).toEqual([])
  })
})

describe('a link that ends', () => {
  it('a linked account removed from the phone: the timeline, the room and the log say why', async () => {
    const log = recordingLogger()
    const h = await linked('removed', { logger: log.logger })
    h.hand.sink('removed').disconnected('logged_out_remote', {
      code: 401,
      message: 'Stream Errored (conflict)',
    })
    await settle()
    expect(h.manager.timeline('removed').at(-1)).toEqual({
      at: expect.any(String),
      event: 'ended',
      code: 401,
      text: 'Stream Errored (conflict)',
      action: expect.stringMatching(/credentials/),
    })
    expect(h.room.payloads('removed', 'disconnected')).toEqual([
      {
        type: 'disconnected',
        session_id: 'removed',
        reason: 'logged_out_remote',
        code: 401,
        message: 'Stream Errored (conflict)',
      },
    ])
    const status = h.manager.status('removed')
    expect(status).toMatchObject({
      status: 'disconnected',
      reason: 'logged_out_remote',
      reconnecting: false,
      health: 'ok',
      message: DISCONNECT_MESSAGES.logged_out_remote,
    })
    expect(status).not.toHaveProperty('user')
    expect(await h.store.account('removed').get('record')).toBeUndefined()
    expect(log.entries).toContainEqual({
      level: 'info',
      message: expect.stringMatching(/disconnected/i),
      fields: { session_id: 'removed', reason: 'logged_out_remote', code: 401 },
    })
  })

  it('a link that ends while reconnecting and degraded is shown ended, healthy and not reconnecting', async () => {
    const h = await linked('taken')
    const sink = h.hand.sink('taken')
    sink.reconnecting(true, { code: 440 })
    sink.health('degraded', 'No answer from WhatsApp for 60 s')
    sink.disconnected('replaced', { code: 440 })
    await settle()
    const status = h.manager.status('taken')
    expect(status).toMatchObject({
      status: 'disconnected',
      reason: 'replaced',
      reconnecting: false,
      health: 'ok',
      message: DISCONNECT_MESSAGES.replaced,
    })
    expect(status).not.toHaveProperty('health_reason')
    expect(h.room.payloads('taken', 'disconnected')).toMatchObject([
      { reason: 'replaced', code: 440, message: DISCONNECT_MESSAGES.replaced },
    ])
    expect(h.manager.timeline('taken').at(-1)).toMatchObject({
      event: 'ended',
      code: 440,
      text: DISCONNECT_MESSAGES.replaced,
    })
  })

  it('a link whose credentials cannot be deleted is still announced as ended, and the operator told', async () => {
    const log = recordingLogger()
    const h = await linked('stuck', { logger: log.logger })
    h.store.removeAccount = () => Promise.reject(new Error('EBUSY'))
    h.hand.sink('stuck').disconnected('logged_out_remote', { code: 401 })
    await settle()
    expect(h.room.payloads('stuck', 'disconnected')).toMatchObject([
      { reason: 'logged_out_remote', code: 401 },
    ])
    expect(h.manager.status('stuck').status).toBe('disconnected')
    expect(log.entries).toContainEqual({
      level: 'error',
      message: expect.stringMatching(/credentials/),
      fields: { session_id: 'stuck', error: expect.objectContaining({ message: 'EBUSY' }) },
    })
  })

  it('disconnecting a link that already timed out tells the room it is logged out now', async () => {
    const h = managerHarness()
    await h.requestLink('late')
    h.hand.sink('late').disconnected('qr_timeout')
    await settle()
    expect(h.manager.timeline('late')).toEqual([])
    const answer = await h.manager.disconnect('late')
    expect(answer).toMatchObject({ status: 'disconnected', reason: 'logout' })
    expect(h.changes.at(-1)).toMatchObject({ status: 'disconnected', reason: 'logout' })
    expect(h.manager.status('late').message).toBe(DISCONNECT_MESSAGES.logout)
  })
})
