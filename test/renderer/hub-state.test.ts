import { describe, expect, it } from 'vitest'
import type { StatusEvent, TimelineEntry } from '../../server/protocol'
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

const status = (payload: StatusEvent) =>
  ({ type: 'server_event', event: { name: 'status', payload } }) as const

const entry = (event: TimelineEntry['event'], text: string): TimelineEntry => ({
  at: '2026-01-02T03:04:05.000Z',
  event,
  text,
  action: 'none',
})

describe('account health', () => {
  const linked = { user: { id: '1@s.whatsapp.net', name: 'Ana' } }

  it('takes health and its reason from the status push, logs the change, and clears it', () => {
    const degraded = apply(
      initialHubState,
      status(statusEvent('s', 'authenticated', linked)),
      status(
        statusEvent('s', 'authenticated', {
          ...linked,
          health: 'degraded',
          health_reason: 'WhatsApp has not answered for 90 s',
        }),
      ),
    )
    expect(degraded.sessions.s!.status).toMatchObject({
      health: 'degraded',
      health_reason: 'WhatsApp has not answered for 90 s',
    })
    expect(degraded.log.at(-1)).toMatchObject({
      level: 'warn',
      message: 'Degraded: WhatsApp has not answered for 90 s',
      sessionId: 's',
    })

    const recovered = hubReducer(degraded, status(statusEvent('s', 'authenticated', linked)))
    expect(recovered.sessions.s!.status.health).toBe('ok')
    expect(recovered.sessions.s!.status.health_reason).toBeUndefined()
    expect(recovered.log.at(-1)).toMatchObject({ level: 'info', message: 'Healthy again' })
  })

  it('a disconnected event ends a degraded state and keeps the hub’s words about the end', () => {
    const state = apply(
      initialHubState,
      status(
        statusEvent('s', 'authenticated', { ...linked, health: 'degraded', health_reason: 'x' }),
      ),
      {
        type: 'server_event',
        event: {
          name: 'disconnected',
          payload: {
            type: 'disconnected',
            session_id: 's',
            reason: 'failed',
            code: 500,
            message: 'Stream Errored (bad-session)',
          },
        },
      },
    )
    expect(state.sessions.s!.status).toMatchObject({
      status: 'disconnected',
      health: 'ok',
      health_reason: undefined,
      message: 'Stream Errored (bad-session)',
    })
  })
})

describe('connection history', () => {
  const withSession = apply(initialHubState, status(statusEvent('s', 'authenticated')))

  it('counts status pushes and re-lists, which reload an open history, but not QR codes', () => {
    const revision = (state: HubState) => state.sessions.s!.statusRevision
    const qr = apply(withSession, {
      type: 'server_event',
      event: { name: 'qr_code', payload: qrEvent('s', 1) },
    })
    expect(revision(qr)).toBe(revision(withSession))
    const pushed = hubReducer(qr, status(statusEvent('s', 'qr_ready')))
    expect(revision(pushed)).toBe(revision(withSession) + 1)
    const relisted = hubReducer(pushed, {
      type: 'sessions_listed',
      sessions: [statusEvent('s', 'qr_ready')],
    })
    expect(revision(relisted)).toBe(revision(withSession) + 2)
  })

  it('loads, keeps the shown entries while refreshing, and takes only the newest answer', () => {
    const loading = hubReducer(withSession, {
      type: 'timeline_requested',
      sessionId: 's',
      request: 1,
    })
    expect(loading.sessions.s!.timeline).toEqual({ request: 1, loading: true })

    const loaded = hubReducer(loading, {
      type: 'timeline_loaded',
      sessionId: 's',
      request: 1,
      events: [entry('linked', 'Linked to Ana')],
    })
    expect(loaded.sessions.s!.timeline).toEqual({
      request: 1,
      loading: false,
      events: [entry('linked', 'Linked to Ana')],
    })

    const refreshing = apply(
      loaded,
      { type: 'timeline_requested', sessionId: 's', request: 2 },
      { type: 'timeline_requested', sessionId: 's', request: 3 },
    )
    expect(refreshing.sessions.s!.timeline).toMatchObject({
      loading: true,
      events: [entry('linked', 'Linked to Ana')],
    })

    const newest = [entry('linked', 'Linked to Ana'), entry('degraded', 'silent')]
    const answered = apply(
      refreshing,
      { type: 'timeline_loaded', sessionId: 's', request: 3, events: newest },
      // the answer to request 2 arrives last: it is older than what is shown
      { type: 'timeline_loaded', sessionId: 's', request: 2, events: [] },
    )
    expect(answered.sessions.s!.timeline).toEqual({ request: 3, loading: false, events: newest })
  })

  it('replaces the entries with the error when loading fails', () => {
    const failed = apply(
      withSession,
      { type: 'timeline_requested', sessionId: 's', request: 1 },
      { type: 'timeline_loaded', sessionId: 's', request: 1, events: [entry('linked', 'x')] },
      { type: 'timeline_requested', sessionId: 's', request: 2 },
      {
        type: 'timeline_failed',
        sessionId: 's',
        request: 2,
        error: { code: 'unknown_session', message: 'no session with id s' },
      },
    )
    expect(failed.sessions.s!.timeline).toEqual({
      request: 2,
      loading: false,
      error: { code: 'unknown_session', message: 'no session with id s' },
    })
  })

  it('keeps a loaded history across a re-list, and ignores answers about sessions that are gone', () => {
    const loaded = apply(
      withSession,
      { type: 'timeline_requested', sessionId: 's', request: 1 },
      { type: 'timeline_loaded', sessionId: 's', request: 1, events: [entry('linked', 'x')] },
    )
    const relisted = hubReducer(loaded, {
      type: 'sessions_listed',
      sessions: [statusEvent('s', 'authenticated')],
    })
    expect(relisted.sessions.s!.timeline?.events).toEqual([entry('linked', 'x')])

    const gone = hubReducer(relisted, { type: 'sessions_listed', sessions: [] })
    const late = hubReducer(gone, {
      type: 'timeline_loaded',
      sessionId: 's',
      request: 1,
      events: [],
    })
    expect(late).toBe(gone)
    expect(late.sessions).toEqual({})
  })
})
