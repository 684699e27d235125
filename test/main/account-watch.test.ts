// @vitest-environment node
import { describe, expect, it } from 'vitest'
import { createAccountWatch } from '../../main/account-watch'
import type { StatusEvent } from '../../server/protocol'

const ada = { id: '34600000001@s.whatsapp.net', name: 'Ada' }

function status(id: string, patch: Partial<StatusEvent> = {}): StatusEvent {
  const value = patch.status ?? 'pending'
  return {
    type: 'status',
    session_id: id,
    status: value,
    authenticated: value === 'authenticated',
    reconnecting: false,
    health: 'ok',
    message: '',
    updated_at: new Date().toISOString(),
    ...patch,
  }
}

const linked = (id: string, patch: Partial<StatusEvent> = {}) =>
  status(id, { status: 'authenticated', user: ada, ...patch })
const ended = (id: string, reason: StatusEvent['reason']) =>
  status(id, { status: 'disconnected', reason })

/** A running hub's watch: what follows happens after start-up. */
function running(limit = 100) {
  const watch = createAccountWatch({ limit })
  watch.hubState('starting')
  watch.hubState('running')
  return watch
}

describe('account watch', () => {
  it('alerts once when a session becomes linked, with the account name', () => {
    const watch = running()
    expect(watch.observe(status('a', { status: 'qr_ready' }))).toBeUndefined()
    expect(watch.observe(linked('a'))).toEqual({ kind: 'linked', session_id: 'a', name: 'Ada' })
    expect(watch.observe(linked('a'))).toBeUndefined()
  })

  it('alerts once per ending that needs a person, naming the account that was linked', () => {
    for (const reason of ['logged_out_remote', 'replaced', 'failed'] as const) {
      const watch = running()
      watch.observe(status('a', { status: 'qr_ready' }))
      watch.observe(linked('a'))
      expect(watch.observe(ended('a', reason))).toEqual({
        kind: reason,
        session_id: 'a',
        name: 'Ada',
      })
      expect(watch.observe(ended('a', reason))).toBeUndefined()
    }
  })

  it('does not alert for endings the person chose or that need nothing', () => {
    const watch = running()
    watch.observe(linked('a', { reconnecting: true }))
    expect(watch.observe(ended('a', 'logout'))).toBeUndefined()
    watch.observe(status('b', { status: 'qr_ready' }))
    expect(watch.observe(ended('b', 'qr_timeout'))).toBeUndefined()
  })

  it('alerts when a link fails before the hub had said anything else about it', () => {
    const watch = running()
    expect(watch.observe(ended('new', 'failed'))).toEqual({
      kind: 'failed',
      session_id: 'new',
      name: undefined,
    })
  })

  it('alerts once when a linked account becomes degraded, with the reason, and again after it recovered', () => {
    const watch = running()
    watch.observe(status('a', { status: 'qr_ready' }))
    watch.observe(linked('a'))
    const silent = linked('a', { health: 'degraded', health_reason: 'No answer for 90 s' })
    expect(watch.observe(silent)).toEqual({
      kind: 'degraded',
      session_id: 'a',
      name: 'Ada',
      reason: 'No answer for 90 s',
    })
    // the same state again, and a new wording of it, are not new changes
    expect(watch.observe(silent)).toBeUndefined()
    expect(watch.observe({ ...silent, health_reason: 'No answer for 120 s' })).toBeUndefined()
    expect(watch.degraded(5).accounts).toEqual([
      { session_id: 'a', name: 'Ada', reason: 'No answer for 120 s' },
    ])
    expect(watch.observe(linked('a'))).toBeUndefined()
    expect(watch.degraded(5)).toEqual({ count: 0, accounts: [] })
    expect(watch.observe(silent)?.kind).toBe('degraded')
  })

  it('stays quiet through a transient reconnect', () => {
    const watch = running()
    watch.observe(status('a', { status: 'qr_ready' }))
    watch.observe(linked('a'))
    expect(watch.observe(linked('a', { reconnecting: true }))).toBeUndefined()
    expect(watch.observe(linked('a'))).toBeUndefined()
  })

  it('says nothing about the accounts a starting hub restores, and alerts on their later changes', () => {
    const watch = createAccountWatch({ limit: 100 })
    watch.hubState('starting')
    expect(watch.observe(linked('a', { reconnecting: true }))).toBeUndefined()
    expect(watch.observe(ended('unreadable', 'failed'))).toBeUndefined()
    expect(watch.observe(linked('a'))).toBeUndefined()
    watch.hubState('running')
    expect(watch.observe(linked('a'))).toBeUndefined()
    expect(watch.observe(ended('a', 'logged_out_remote'))?.kind).toBe('logged_out_remote')
  })

  it('alerts while starting when a restored account ends, since that is a change', () => {
    const watch = createAccountWatch({ limit: 100 })
    watch.hubState('starting')
    watch.observe(linked('a', { reconnecting: true }))
    expect(watch.observe(ended('a', 'logged_out_remote'))?.kind).toBe('logged_out_remote')
  })

  it('forgets every session when the hub stops or starts again', () => {
    const watch = running()
    watch.observe(status('a', { status: 'qr_ready' }))
    watch.observe(linked('b', { health: 'degraded', health_reason: 'silent' }))
    watch.hubState('stopping')
    expect(watch.size).toBe(2)
    watch.hubState('stopped')
    expect(watch.size).toBe(0)
    expect(watch.degraded(5).count).toBe(0)
    watch.hubState('starting')
    expect(watch.observe(linked('a', { reconnecting: true }))).toBeUndefined()
    watch.hubState('running')
    expect(watch.observe(linked('a'))).toBeUndefined()
  })

  it('forgets a session the hub removed', () => {
    const watch = running()
    watch.observe(status('a', { status: 'qr_ready' }))
    watch.observe(ended('a', 'qr_timeout'))
    expect(watch.size).toBe(1)
    expect(watch.observe(ended('a', 'inactive'))).toBeUndefined()
    expect(watch.size).toBe(0)
  })

  it('remembers at most `limit` sessions, dropping the least recently changed', () => {
    const watch = running(3)
    for (const id of ['a', 'b', 'c']) watch.observe(status(id, { status: 'qr_ready' }))
    watch.observe(linked('a')) // a changed last: b is now the oldest
    expect(watch.size).toBe(3)
    watch.observe(status('d', { status: 'qr_ready' }))
    expect(watch.size).toBe(3)
    // b was forgotten: its link is not recognised as one (no previous status)...
    expect(watch.observe(linked('b'))).toBeUndefined()
    expect(watch.size).toBe(3)
    // ...while the ones kept still are
    expect(watch.observe(linked('d'))?.kind).toBe('linked')
  })

  it('counts every degraded account and lists the most recently degraded first, up to the number asked', () => {
    const watch = running()
    for (const id of ['a', 'b', 'c']) {
      watch.observe(linked(id, { reconnecting: true }))
      watch.observe(linked(id, { health: 'degraded', health_reason: `silent ${id}` }))
    }
    expect(watch.degraded(2)).toEqual({
      count: 3,
      accounts: [
        { session_id: 'c', name: 'Ada', reason: 'silent c' },
        { session_id: 'b', name: 'Ada', reason: 'silent b' },
      ],
    })
    watch.observe(ended('c', 'replaced'))
    expect(watch.degraded(5).accounts.map((account) => account.session_id)).toEqual(['b', 'a'])
  })

  it('drops a forgotten session from the degraded list too', () => {
    const watch = running(2)
    watch.observe(linked('a', { health: 'degraded', health_reason: 'silent' }))
    watch.observe(status('b', { status: 'qr_ready' }))
    watch.observe(status('c', { status: 'qr_ready' }))
    expect(watch.degraded(5)).toEqual({ count: 0, accounts: [] })
  })
})
