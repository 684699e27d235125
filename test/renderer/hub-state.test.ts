import { describe, expect, it } from 'vitest'
import {
  hubReducer,
  initialHubState,
  LOG_LIMIT,
  type HubState,
} from '../../renderer/src/state/hub-state'
import { qrEvent, statusEvent } from './events'

const apply = (state: HubState, ...actions: Parameters<typeof hubReducer>[1][]) =>
  actions.reduce(hubReducer, state)

describe('hubReducer', () => {
  it('keeps the last 1,000 log entries, dropping the oldest', () => {
    let state = initialHubState
    for (let i = 0; i < LOG_LIMIT + 5; i++) {
      state = hubReducer(state, {
        type: 'log',
        entry: { time: '', level: 'info', message: `n${i}`, source: 'hub' },
      })
    }
    expect(state.log).toHaveLength(1000)
    expect(state.log[0]!.message).toBe('n5')
    expect(state.log.at(-1)!.message).toBe('n1004')
  })

  it('keeps the current QR across a re-list only while the session is still qr_ready', () => {
    const withQr = apply(initialHubState, {
      type: 'server_event',
      event: { name: 'qr_code', payload: qrEvent('s', 2) },
    })
    const relisted = hubReducer(withQr, {
      type: 'sessions_listed',
      sessions: [statusEvent('s', 'qr_ready')],
    })
    expect(relisted.sessions.s!.qr?.attempt).toBe(2)
    const ended = hubReducer(withQr, {
      type: 'sessions_listed',
      sessions: [statusEvent('s', 'disconnected', { reason: 'qr_timeout' })],
    })
    expect(ended.sessions.s!.qr).toBeUndefined()
  })

  it('forgets sessions the hub no longer has after a reconnect', () => {
    const two = apply(
      initialHubState,
      { type: 'server_event', event: { name: 'status', payload: statusEvent('a', 'pending') } },
      { type: 'server_event', event: { name: 'status', payload: statusEvent('b', 'pending') } },
    )
    const relisted = hubReducer(two, {
      type: 'sessions_listed',
      sessions: [statusEvent('b', 'pending')],
    })
    expect(relisted.order).toEqual(['b'])
    expect(relisted.selected).toBe('b')
  })

  it('selects the first session that appears when none is selected, and keeps a choice', () => {
    const first = apply(initialHubState, {
      type: 'server_event',
      event: { name: 'qr_code', payload: qrEvent('first', 1) },
    })
    expect(first.selected).toBe('first')
    const second = hubReducer(first, {
      type: 'server_event',
      event: { name: 'qr_code', payload: qrEvent('second', 1) },
    })
    expect(second.selected).toBe('first')
  })
})
