import { fireEvent, screen, waitFor, within } from '@testing-library/react'
import { describe, expect, it } from 'vitest'
import type { ErrorCode, TimelineEntry } from '../../server/protocol'
import { statusEvent } from './events'
import type { FakeSocket } from './fake-socket'
import { openWithToken } from './open-app'

const ana = { user: { id: '34600111222@s.whatsapp.net', name: 'Ana' } }
const SILENT = 'WhatsApp has not answered for 90 s'

const listItem = () => screen.getByRole('button', { name: /Ana/ })
const panel = () => screen.getByTestId('session-detail')
const historyButton = () => screen.getByRole('button', { name: 'Connection history' })

function entry(
  event: TimelineEntry['event'],
  text: string,
  action: string,
  extra: Partial<TimelineEntry> = {},
): TimelineEntry {
  return { at: '2026-03-04T10:20:30.000Z', event, text, action, ...extra }
}

/** Answers `event` the way the hub refuses: an `error` event first, then the failed ack. */
function refuse(socket: FakeSocket, event: string, error: { code: ErrorCode; message: string }) {
  socket.answers[event] = () => {
    socket.server('error', { type: 'error', ...error, event })
    return { ok: false, error }
  }
}

/** The hub's `get_timeline` answer from now on. */
function answerTimeline(socket: FakeSocket, events: TimelineEntry[]) {
  socket.answers.get_timeline = (payload) => ({ ok: true, session_id: payload.session_id, events })
}

describe('account health', () => {
  it('shows "Degraded" with the reason in the list and the panel, and clears it when healthy', async () => {
    const { socket } = await openWithToken()
    socket.server('status', statusEvent('s1', 'authenticated', ana))
    expect(screen.queryByText('Degraded')).toBeNull()

    socket.server(
      'status',
      statusEvent('s1', 'authenticated', { ...ana, health: 'degraded', health_reason: SILENT }),
    )
    expect(within(listItem()).getByTestId('health-chip').textContent).toBe('Degraded')
    expect(within(listItem()).getByText(SILENT)).toBeTruthy()
    expect(within(panel()).getByTestId('health-chip').textContent).toBe('Degraded')
    const note = within(panel()).getByTestId('health-note')
    expect(note.textContent).toContain(SILENT)
    expect(note.textContent).toContain('reconnects this account by itself')
    // still linked: the state chip says so beside it
    expect(within(listItem()).getByTestId('state-chip').textContent).toBe('Linked')

    socket.server('status', statusEvent('s1', 'authenticated', ana))
    expect(screen.queryByTestId('health-chip')).toBeNull()
    expect(screen.queryByText(SILENT)).toBeNull()
  })

  it('says only "Reconnecting" while the hub reconnects a silent account', async () => {
    const { socket } = await openWithToken()
    socket.server(
      'status',
      statusEvent('s1', 'authenticated', {
        ...ana,
        reconnecting: true,
        health: 'degraded',
        health_reason: SILENT,
      }),
    )
    expect(within(listItem()).getByTestId('state-chip').textContent).toBe('Reconnecting')
    expect(screen.queryByTestId('health-chip')).toBeNull()
  })

  it('speaks Spanish', async () => {
    const { socket } = await openWithToken('x', 'es')
    socket.server(
      'status',
      statusEvent('s1', 'authenticated', { ...ana, health: 'degraded', health_reason: SILENT }),
    )
    expect(within(listItem()).getByTestId('health-chip').textContent).toBe('Degradada')
  })
})

describe('connection history', () => {
  it('loads when opened and shows each entry: time, what happened, code, what the hub did', async () => {
    const { socket } = await openWithToken()
    socket.server('status', statusEvent('s1', 'authenticated', ana))
    answerTimeline(socket, [
      entry('linked', 'Linked to Ana', 'none', { at: '2026-03-04T10:00:00.000Z' }),
      entry('dropped', 'Connection Closed', 'reconnecting in 4 s', {
        at: '2026-03-04T11:00:00.000Z',
        code: 428,
      }),
    ])
    expect(socket.sentEvents('get_timeline')).toHaveLength(0)
    expect(historyButton().getAttribute('aria-expanded')).toBe('false')

    fireEvent.click(historyButton())
    expect(historyButton().getAttribute('aria-expanded')).toBe('true')
    expect(socket.sentEvents('get_timeline')).toEqual([{ session_id: 's1' }])
    const history = screen.getByRole('region', { name: 'Connection history' })
    const items = await within(history).findAllByRole('listitem')

    // newest first
    expect(items).toHaveLength(2)
    const [dropped, linked] = items as [HTMLElement, HTMLElement]
    expect(within(dropped).getByText('Connection lost')).toBeTruthy()
    expect(within(dropped).getByText('Connection Closed')).toBeTruthy()
    expect(within(dropped).getByText('WhatsApp code 428')).toBeTruthy()
    expect(within(dropped).getByText('The hub: reconnecting in 4 s')).toBeTruthy()
    const time = dropped.querySelector('time')!
    expect(time.getAttribute('dateTime')).toBe('2026-03-04T11:00:00.000Z')
    expect(time.textContent).toBe(
      new Intl.DateTimeFormat('en', { dateStyle: 'medium', timeStyle: 'medium' }).format(
        new Date('2026-03-04T11:00:00.000Z'),
      ),
    )
    expect(within(linked).getByText('Linked')).toBeTruthy()
    expect(within(linked).getByText('The hub: nothing to do')).toBeTruthy()
    expect(within(linked).queryByText(/WhatsApp code/)).toBeNull()
  })

  it('reloads on each status push for the account while open, and not once closed', async () => {
    const { socket } = await openWithToken()
    socket.server('status', statusEvent('s1', 'authenticated', ana))
    answerTimeline(socket, [entry('linked', 'Linked to Ana', 'none')])
    fireEvent.click(historyButton())
    await screen.findByText('Linked to Ana')

    answerTimeline(socket, [
      entry('linked', 'Linked to Ana', 'none'),
      entry('degraded', SILENT, 'watching; reconnecting if it stays silent'),
    ])
    socket.server(
      'status',
      statusEvent('s1', 'authenticated', { ...ana, health: 'degraded', health_reason: SILENT }),
    )
    expect(
      await screen.findByText('The hub: watching; reconnecting if it stays silent'),
    ).toBeTruthy()
    expect(socket.sentEvents('get_timeline')).toHaveLength(2)

    // another account's push is not this history's business
    socket.server('status', statusEvent('other', 'pending'))
    expect(socket.sentEvents('get_timeline')).toHaveLength(2)

    fireEvent.click(historyButton())
    expect(screen.queryByRole('region', { name: 'Connection history' })).toBeNull()
    socket.server('status', statusEvent('s1', 'authenticated', ana))
    expect(socket.sentEvents('get_timeline')).toHaveLength(2)
  })

  it('says "Loading" until the answer comes, and says so when there is nothing yet', async () => {
    const { socket } = await openWithToken()
    socket.server('status', statusEvent('s1', 'authenticated', ana))
    let answer: (value: unknown) => void = () => undefined
    socket.answers.get_timeline = () => new Promise((resolve) => (answer = resolve))
    fireEvent.click(historyButton())
    const history = screen.getByRole('region', { name: 'Connection history' })
    expect(history.getAttribute('aria-busy')).toBe('true')
    expect(within(history).getByText('Loading the connection history…')).toBeTruthy()

    answer({ ok: true, session_id: 's1', events: [] })
    expect(
      await within(history).findByText('Nothing has happened to this connection yet.'),
    ).toBeTruthy()
    expect(history.getAttribute('aria-busy')).toBe('false')
  })

  it('says in words when the hub cannot give it, and tries again on request', async () => {
    const { socket } = await openWithToken()
    socket.server('status', statusEvent('s1', 'disconnected', { reason: 'logged_out_remote' }))
    refuse(socket, 'get_timeline', { code: 'unknown_session', message: 'no session with id s1' })
    fireEvent.click(historyButton())
    const history = screen.getByRole('region', { name: 'Connection history' })
    expect((await within(history).findByRole('alert')).textContent).toContain(
      'The connection history could not be loaded: no session with id s1',
    )
    // said once, in the history, not again at the foot of the page
    expect(screen.getAllByRole('alert')).toHaveLength(1)

    answerTimeline(socket, [entry('ended', 'Removed on the phone', 'deleted the credentials')])
    fireEvent.click(within(history).getByRole('button', { name: 'Try again' }))
    expect(await within(history).findByText('Removed on the phone')).toBeTruthy()
    expect(within(history).queryByRole('alert')).toBeNull()
  })

  it('is offered for linked and ended accounts, not while a code is waiting for a scan', async () => {
    const { socket } = await openWithToken()
    socket.server('status', statusEvent('s1', 'qr_ready'))
    expect(screen.queryByRole('button', { name: 'Connection history' })).toBeNull()
    socket.server('status', statusEvent('s1', 'authenticated', ana))
    expect(historyButton()).toBeTruthy()
  })

  it('closes when another account is selected', async () => {
    const { socket } = await openWithToken()
    socket.server('status', statusEvent('s1', 'authenticated', ana))
    socket.server(
      'status',
      statusEvent('s2', 'authenticated', { user: { id: '1@s.whatsapp.net', name: 'Bo' } }),
    )
    fireEvent.click(historyButton())
    await screen.findByText('Nothing has happened to this connection yet.')
    fireEvent.click(screen.getByRole('button', { name: /Bo/ }))
    expect(screen.queryByRole('region', { name: 'Connection history' })).toBeNull()
    expect(socket.sentEvents('get_timeline')).toEqual([{ session_id: 's1' }])
  })
})

describe('what the hub refuses or cannot read', () => {
  it('shows limit_reached from "Link a new account" in words beside it, and adds no account', async () => {
    const { socket } = await openWithToken()
    const message =
      'this connection already has 5 links waiting for a scan (MAX_PENDING_PER_CLIENT); finish or disconnect one first'
    refuse(socket, 'get_qr', { code: 'limit_reached', message })
    fireEvent.click(screen.getByRole('button', { name: 'Link a new account' }))
    const accounts = screen.getByRole('region', { name: 'Accounts' })
    expect((await within(accounts).findByRole('alert')).textContent).toBe(message)
    expect(screen.getAllByRole('alert')).toHaveLength(1)
    expect(within(accounts).getByText('No accounts yet.')).toBeTruthy()

    // the next attempt that works clears it
    socket.answers.get_qr = () => ({ ok: true, session_id: 'new-session', status: 'pending' })
    fireEvent.click(screen.getByRole('button', { name: 'Link a new account' }))
    await waitFor(() => expect(within(accounts).queryByRole('alert')).toBeNull())
  })

  it('shows why a stored session cannot be used, and lets its data be deleted', async () => {
    const { socket } = await openWithToken()
    const unreadable =
      'The data key does not match the one this session was stored with; nothing was deleted'
    socket.server(
      'status',
      statusEvent('locked', 'disconnected', { reason: 'failed', message: unreadable }),
    )
    expect(within(panel()).getByText('Disconnected: the link failed')).toBeTruthy()
    expect(within(panel()).getByTestId('ended-detail').textContent).toBe(unreadable)

    const refusal = `${unreadable}. Fix the data key and restart, or disconnect this session to delete its data and link again`
    refuse(socket, 'get_qr', { code: 'provider_error', message: refusal })
    fireEvent.click(screen.getByRole('button', { name: 'Get a new code' }))
    expect((await within(panel()).findByRole('alert')).textContent).toBe(refusal)
    expect(screen.getAllByRole('alert')).toHaveLength(1)

    fireEvent.click(within(panel()).getByRole('button', { name: 'Disconnect' }))
    fireEvent.click(within(panel()).getByRole('button', { name: 'Yes, disconnect' }))
    await waitFor(() =>
      expect(socket.sentEvents('disconnect_whatsapp')).toEqual([{ session_id: 'locked' }]),
    )
  })

  it('adds nothing to an ordinary end, which the reason already says in the reader’s language', async () => {
    const { socket } = await openWithToken('x', 'es')
    socket.server(
      'status',
      statusEvent('s1', 'disconnected', {
        reason: 'logged_out_remote',
        message: 'The link was removed from the phone (Linked devices)',
      }),
    )
    expect(within(panel()).getByText('Desconectada: eliminada desde el teléfono')).toBeTruthy()
    expect(screen.queryByTestId('ended-detail')).toBeNull()
    expect(within(panel()).queryByRole('button', { name: 'Desconectar' })).toBeNull()
  })
})
