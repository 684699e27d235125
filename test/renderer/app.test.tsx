import { act, fireEvent, render, screen, waitFor, within } from '@testing-library/react'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { DataKeyStatus, DesktopApi, ServerStatus } from '../../preload/api'
import { App } from '../../renderer/src/App'
import { qrEvent, statusEvent } from './events'
import { fakeTransport } from './fake-socket'
import { openWithToken } from './open-app'

afterEach(() => {
  vi.useRealTimers()
})

describe('access', () => {
  it('takes the token from ?token=, removes it from the address bar, keeps it for the tab', async () => {
    const { socket } = await openWithToken('tok-from-url')
    expect(socket.token).toBe('tok-from-url')
    expect(socket.url).toBe(window.location.origin)
    expect(window.location.search).toBe('')
    expect(sessionStorage.getItem('wa-link-hub-token')).toBe('tok-from-url')
    expect(screen.getByTestId('connection').textContent).toContain('Connected')
  })

  it('asks for the token when there is none, then connects with it', () => {
    const net = fakeTransport()
    render(<App transport={net.transport} language="en" />)
    expect(net.sockets).toHaveLength(0)
    fireEvent.change(screen.getByLabelText('Token'), { target: { value: 'typed-token' } })
    fireEvent.click(screen.getByRole('button', { name: 'Connect' }))
    expect(net.last().token).toBe('typed-token')
  })

  it('says "Access token rejected" for a wrong token, and offers the form again', async () => {
    window.history.replaceState(null, '', '/?token=wrong')
    const net = fakeTransport()
    render(<App transport={net.transport} language="en" />)
    net.last().server('connect_error', new Error('unauthorized'))
    expect(screen.getByTestId('connection').textContent).toContain('Access token rejected')
    expect(screen.getByRole('alert').textContent).toContain('Access token rejected')
    expect(net.last().closed).toBe(true)
    fireEvent.change(screen.getByLabelText('Token'), { target: { value: 'right' } })
    fireEvent.click(screen.getByRole('button', { name: 'Connect' }))
    expect(net.last().token).toBe('right')
  })
})

describe('session states', () => {
  it('moves through qr_ready → linked → disconnected as the events arrive', async () => {
    const { socket } = await openWithToken()
    fireEvent.click(screen.getByRole('button', { name: 'Link a new account' }))
    await waitFor(() => expect(socket.sentEvents('get_qr')).toEqual([{}]))

    socket.server('status', statusEvent('new-session', 'pending'))
    expect(screen.getByText('Waiting for WhatsApp to issue a code…')).toBeTruthy()

    socket.server('qr_code', qrEvent('new-session', 1))
    const image = screen.getByTestId('qr-image') as HTMLImageElement
    expect(image.src).toBe('data:image/png;base64,QR1')
    expect(screen.getByText('QR 1 of 6')).toBeTruthy()
    expect(screen.getByTestId('simulation-banner')).toBeTruthy()

    // rotation swaps the image by itself
    socket.server('qr_code', qrEvent('new-session', 2))
    expect((screen.getByTestId('qr-image') as HTMLImageElement).src).toBe(
      'data:image/png;base64,QR2',
    )
    expect(screen.getByText('QR 2 of 6')).toBeTruthy()

    socket.server('authenticated', {
      type: 'authenticated',
      session_id: 'new-session',
      user: { id: '34600111222@s.whatsapp.net', name: 'Ana' },
      message: '',
    })
    expect(screen.queryByTestId('qr-image')).toBeNull()
    expect(screen.getByText('Linked to Ana')).toBeTruthy()
    expect(screen.getByText('Number: +34600111222')).toBeTruthy()
    const item = screen.getByRole('button', { name: /Ana/ })
    expect(within(item).getByTestId('state-chip').textContent).toBe('Linked')

    socket.server('disconnected', {
      type: 'disconnected',
      session_id: 'new-session',
      reason: 'logged_out_remote',
      message: '',
    })
    expect(screen.getByText('Disconnected: removed on the phone')).toBeTruthy()
  })

  it('shows reconnecting on a status with reconnecting: true', async () => {
    const { socket } = await openWithToken()
    socket.server(
      'status',
      statusEvent('s1', 'authenticated', {
        reconnecting: true,
        user: { id: '1@s.whatsapp.net', name: 'Bo' },
      }),
    )
    expect(screen.getAllByTestId('state-chip').map((chip) => chip.textContent)).toContain(
      'Reconnecting',
    )
  })

  it('offers "Get a new code" after qr_timeout, which asks for a new QR for that session', async () => {
    const { socket } = await openWithToken()
    socket.server('qr_code', qrEvent('s-timeout', 6))
    socket.server('disconnected', {
      type: 'disconnected',
      session_id: 's-timeout',
      reason: 'qr_timeout',
      message: '',
    })
    expect(screen.getByText('Disconnected: no code scanned in time')).toBeTruthy()
    fireEvent.click(screen.getByRole('button', { name: 'Get a new code' }))
    await waitFor(() => expect(socket.sentEvents('get_qr')).toEqual([{ session_id: 's-timeout' }]))
  })

  it('asks for confirmation before disconnecting', async () => {
    const { socket } = await openWithToken()
    socket.server('authenticated', {
      type: 'authenticated',
      session_id: 's2',
      user: { id: '1@s.whatsapp.net', name: 'Cy' },
      message: '',
    })
    fireEvent.click(screen.getByRole('button', { name: 'Disconnect' }))
    expect(socket.sentEvents('disconnect_whatsapp')).toHaveLength(0)
    fireEvent.click(screen.getByRole('button', { name: 'Cancel' }))
    fireEvent.click(screen.getByRole('button', { name: 'Disconnect' }))
    fireEvent.click(screen.getByRole('button', { name: 'Yes, disconnect' }))
    await waitFor(() =>
      expect(socket.sentEvents('disconnect_whatsapp')).toEqual([{ session_id: 's2' }]),
    )
  })

  it('shows a pairing code in big grouped characters', async () => {
    const { socket } = await openWithToken()
    fireEvent.change(screen.getByLabelText('Phone number (international format)'), {
      target: { value: '+34 600 111 222' },
    })
    fireEvent.click(screen.getByRole('button', { name: 'Get pairing code' }))
    await waitFor(() =>
      expect(socket.sentEvents('get_qr')).toEqual([{ phone_number: '+34600111222' }]),
    )
    socket.server('pairing_code', {
      type: 'pairing_code',
      session_id: 'new-session',
      code: 'ABCD2345',
      expires_at: new Date(Date.now() + 60_000).toISOString(),
      message: '',
    })
    expect(screen.getByTestId('pairing-code').textContent).toBe('ABCD-2345')
  })

  it('refuses a malformed phone number before anything is sent', async () => {
    const { socket } = await openWithToken()
    fireEvent.change(screen.getByLabelText('Phone number (international format)'), {
      target: { value: '12ab' },
    })
    fireEvent.click(screen.getByRole('button', { name: 'Get pairing code' }))
    expect(await screen.findByText('Enter 7–15 digits, with the country code.')).toBeTruthy()
    expect(socket.sentEvents('get_qr')).toHaveLength(0)
  })

  it('counts down to expires_at', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] })
    const { socket } = await openWithToken()
    socket.server('qr_code', qrEvent('s3', 1))
    expect(screen.getByTestId('countdown').textContent).toContain('60 s left')
    act(() => {
      vi.advanceTimersByTime(15_000)
    })
    expect(screen.getByTestId('countdown').textContent).toContain('45 s left')
  })

  it('shows server errors in words', async () => {
    const { socket } = await openWithToken()
    socket.server('error', {
      type: 'error',
      code: 'rate_limited',
      message: 'Too many events; slow down',
    })
    expect(screen.getByText('Too many events; slow down')).toBeTruthy()
  })
})

describe('connection', () => {
  it('shows reconnecting, then re-subscribes and refreshes every session by itself', async () => {
    const { socket } = await openWithToken()
    socket.sessions = [
      statusEvent('a', 'authenticated', { user: { id: '1@s.whatsapp.net', name: 'A' } }),
      statusEvent('b', 'qr_ready'),
    ]
    socket.server('disconnect', 'transport close')
    socket.manager('reconnect_attempt', 3)
    expect(screen.getByTestId('connection').textContent).toContain('Reconnecting (attempt 3)')

    socket.server('connect')
    await waitFor(() =>
      expect(socket.sentEvents('subscribe')).toEqual([{ session_id: 'a' }, { session_id: 'b' }]),
    )
    expect(socket.sentEvents('list_sessions')).toHaveLength(2)
    expect(screen.getByTestId('connection').textContent).toContain('Connected')
    expect(screen.getByRole('button', { name: /A/ })).toBeTruthy()
  })

  it('says offline when reconnection gives up', async () => {
    const { socket } = await openWithToken()
    socket.server('disconnect', 'transport close')
    socket.manager('reconnect_failed')
    expect(screen.getByTestId('connection').textContent).toContain('Offline')
  })
})

describe('activity log', () => {
  it('records events with time, filters by level and session, and clears', async () => {
    const { socket } = await openWithToken()
    socket.server('qr_code', qrEvent('one', 1))
    socket.server('qr_code', qrEvent('two', 1))
    socket.server('error', {
      type: 'error',
      code: 'unknown_session',
      message: 'nope',
      session_id: 'two',
    })
    const log = screen.getByTestId('activity-log')
    expect(within(log).getAllByText('QR 1 of 6 issued')).toHaveLength(2)
    expect(log.querySelector('time')?.getAttribute('dateTime')).toMatch(/^\d{4}-/)

    fireEvent.change(screen.getByLabelText('Level'), { target: { value: 'error' } })
    expect(within(log).queryByText('QR 1 of 6 issued')).toBeNull()
    expect(within(log).getByText('unknown_session: nope')).toBeTruthy()

    fireEvent.change(screen.getByLabelText('Level'), { target: { value: 'info' } })
    fireEvent.change(screen.getByLabelText('Session'), { target: { value: 'one' } })
    expect(within(log).getAllByText('QR 1 of 6 issued')).toHaveLength(1)

    fireEvent.click(screen.getByRole('button', { name: 'Clear' }))
    expect(within(log).getByText('Nothing yet.')).toBeTruthy()
  })
})

describe('languages', () => {
  it('speaks Spanish when asked, and switches', async () => {
    window.history.replaceState(null, '', '/?token=x')
    const net = fakeTransport()
    render(<App transport={net.transport} language="es" />)
    net.last().server('connect')
    expect(screen.getByRole('button', { name: 'Vincular una cuenta nueva' })).toBeTruthy()
    fireEvent.change(screen.getByLabelText('Idioma'), { target: { value: 'en' } })
    expect(screen.getByRole('button', { name: 'Link a new account' })).toBeTruthy()
    expect(document.documentElement.lang).toBe('en')
  })
})

describe('desktop window', () => {
  function stubDesktop(status: ServerStatus, dataKey: DataKeyStatus = { protection: 'os' }) {
    let statusListener: ((s: ServerStatus) => void) | undefined
    let selectListener: ((sessionId: string) => void) | undefined
    const settings = {
      port: 5001,
      host: '0.0.0.0',
      provider: 'simulated' as const,
      closeToTray: true,
      notifications: true,
    }
    const desktop: DesktopApi = {
      server: {
        start: vi.fn(async () => status),
        stop: vi.fn(async () => ({ ...status, state: 'stopped' as const })),
        status: vi.fn(async () => status),
        onStatus: vi.fn((listener) => {
          statusListener = listener
          return () => undefined
        }),
        connectionInfo: vi.fn(async () =>
          status.state === 'running'
            ? {
                url: 'http://localhost:5001/',
                token: 'desk-token',
                accessUrl: 'http://localhost:5001/?token=desk-token',
              }
            : null,
        ),
      },
      logs: {
        recent: vi.fn(async () => [
          { time: new Date().toISOString(), level: 'info' as const, message: 'from main process' },
        ]),
        onEntry: vi.fn(() => () => undefined),
        openFolder: vi.fn(async () => undefined),
      },
      settings: {
        get: vi.fn(async () => settings),
        set: vi.fn(async () => settings),
      },
      dataKey: { status: vi.fn(async () => dataKey) },
      sessions: {
        onSelect: vi.fn((listener) => {
          selectListener = listener
          return () => {
            selectListener = undefined
          }
        }),
      },
    }
    return {
      desktop,
      push: (next: ServerStatus) => act(() => statusListener?.(next)),
      select: (sessionId: string) => act(() => selectListener?.(sessionId)),
    }
  }
  const running: ServerStatus = {
    state: 'running',
    host: '0.0.0.0',
    port: 5001,
    provider: 'simulated',
    url: 'http://localhost:5001/',
    clients: 2,
    sessions: { total: 0, pending: 0, qr_ready: 0, authenticated: 0, disconnected: 0 },
    degraded: { count: 0, accounts: [] },
  }

  it('renders the server controls, connects with the bridge token, and calls the bridge', async () => {
    const { desktop } = stubDesktop(running)
    const net = fakeTransport()
    render(<App transport={net.transport} desktop={desktop} language="en" />)
    await waitFor(() => expect(net.sockets).toHaveLength(1))
    expect(net.last()).toMatchObject({ url: 'http://localhost:5001/', token: 'desk-token' })
    const controls = screen.getByTestId('server-controls')
    expect(within(controls).getByText('Running')).toBeTruthy()
    expect(within(controls).getByText('2 clients')).toBeTruthy()
    expect(within(controls).getByText('Port 5001')).toBeTruthy()
    fireEvent.click(within(controls).getByRole('button', { name: 'Stop' }))
    await waitFor(() => expect(desktop.server.stop).toHaveBeenCalledTimes(1))
    fireEvent.click(within(controls).getByRole('button', { name: 'Open logs folder' }))
    expect(desktop.logs.openFolder).toHaveBeenCalledTimes(1)
    expect(await screen.findByText('from main process')).toBeTruthy()
  })

  it('warns when the data key has no OS protection, or replaced one that could not be unlocked', async () => {
    const { desktop } = stubDesktop(running, {
      protection: 'basic_text',
      backend: 'basic_text',
      unreadableKeptAs: 'data-key.json.unreadable-2026-01-02T03-04-05-000Z',
    })
    render(<App transport={fakeTransport().transport} desktop={desktop} language="en" />)
    const notice = await screen.findByTestId('data-key-notice')
    expect(notice.getAttribute('role')).toBe('alert')
    expect(notice.textContent).toContain('No keyring protects your WhatsApp credentials')
    expect(notice.textContent).toContain(
      'accounts linked before must be linked again. The old key was kept as data-key.json.unreadable-2026-01-02T03-04-05-000Z.',
    )
  })

  it('shows no data key notice when the OS keystore protects the key', async () => {
    const { desktop } = stubDesktop(running, { protection: 'os', backend: 'gnome_libsecret' })
    render(<App transport={fakeTransport().transport} desktop={desktop} language="en" />)
    await screen.findByTestId('server-controls')
    await waitFor(() => expect(desktop.dataKey.status).toHaveBeenCalled())
    await act(async () => {
      await vi.mocked(desktop.dataKey.status).mock.results[0]!.value
    })
    expect(screen.queryByTestId('data-key-notice')).toBeNull()
  })

  it('shows "Port 5001 is in use" plainly', async () => {
    const { desktop } = stubDesktop({
      ...running,
      state: 'error',
      url: undefined,
      error: { code: 'port_in_use', message: 'Port 5001 is in use — choose another in Settings' },
    })
    render(<App transport={fakeTransport().transport} desktop={desktop} language="en" />)
    expect(await screen.findByText('Port 5001 is in use — choose another in Settings')).toBeTruthy()
    expect(screen.getByRole('button', { name: 'Start' })).toBeTruthy()
  })

  it('saves changed settings through the bridge and shows a refusal in words', async () => {
    const { desktop } = stubDesktop(running)
    render(<App transport={fakeTransport().transport} desktop={desktop} language="en" />)
    const settings = await screen.findByTestId('settings')
    fireEvent.change(within(settings).getByLabelText('Port'), { target: { value: '5002' } })
    fireEvent.change(within(settings).getByLabelText('WhatsApp'), { target: { value: 'baileys' } })
    fireEvent.click(within(settings).getByRole('button', { name: 'Save' }))
    await waitFor(() =>
      expect(desktop.settings.set).toHaveBeenCalledWith({ port: 5002, provider: 'baileys' }),
    )
    expect(await within(settings).findByText('Saved.')).toBeTruthy()

    vi.mocked(desktop.settings.set).mockRejectedValueOnce(
      new Error(
        "Error invoking remote method 'hub:settings:set': Error: invalid setting host: host must be an address or a name",
      ),
    )
    fireEvent.change(within(settings).getByLabelText('Listen on'), {
      target: { value: 'bad host!' },
    })
    fireEvent.click(within(settings).getByRole('button', { name: 'Save' }))
    expect((await within(settings).findByRole('alert')).textContent).toBe(
      'invalid setting host: host must be an address or a name',
    )
  })

  it('turns notifications off through the bridge', async () => {
    const { desktop } = stubDesktop(running)
    render(<App transport={fakeTransport().transport} desktop={desktop} language="en" />)
    const settings = await screen.findByTestId('settings')
    const box = within(settings).getByLabelText(/Notify me when an account is linked/)
    expect((box as HTMLInputElement).checked).toBe(true)
    fireEvent.click(box)
    fireEvent.click(within(settings).getByRole('button', { name: 'Save' }))
    await waitFor(() => expect(desktop.settings.set).toHaveBeenCalledWith({ notifications: false }))
  })

  it('shows the account main asks for (a notification or the tray was clicked)', async () => {
    const { desktop, select } = stubDesktop(running)
    const net = fakeTransport()
    render(<App transport={net.transport} desktop={desktop} language="en" />)
    await waitFor(() => expect(net.sockets).toHaveLength(1))
    const socket = net.last()
    socket.sessions = [
      statusEvent('desk', 'authenticated', { user: { id: '1@s.whatsapp.net', name: 'Desk' } }),
      statusEvent('shop', 'authenticated', { user: { id: '2@s.whatsapp.net', name: 'Shop' } }),
    ]
    socket.server('connect')
    const current = () =>
      screen
        .getAllByRole('button', { current: true })
        .map((button) => button.getAttribute('data-session'))
    await waitFor(() => expect(current()).toEqual(['shop']))
    select('desk')
    expect(current()).toEqual(['desk'])
  })

  it('hides the server controls in a browser', async () => {
    await openWithToken()
    expect(screen.queryByTestId('server-controls')).toBeNull()
    expect(screen.queryByTestId('settings')).toBeNull()
  })
})
