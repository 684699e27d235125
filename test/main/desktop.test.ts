// @vitest-environment node
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { io } from 'socket.io-client'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { DesktopApi, LogEntry, ServerStatus } from '../../preload/api'
import { IpcChannel } from '../../preload/api'
import { freePort } from '../helpers/hub'
import { fake, WebContents } from '../mocks/electron'
import { appFaultListeners, launchApp, quitApp, until } from './launch'

let userData: string | undefined

beforeEach(() => {
  fake.reset(userData ? { userData } : {})
  userData = undefined
  vi.stubEnv('WS_PORT', '0')
  vi.stubEnv('WS_HOST', '127.0.0.1')
  vi.stubEnv('SECRET_KEY', '')
})
afterEach(async () => {
  await quitApp()
  vi.unstubAllEnvs()
})

const tray = () => fake.trays[0]!

const menuLabels = () => tray().menu!.items.map((item) => item.label)

/** A client links an account the way a person does: asks for a QR, and the phone scans it. */
async function linkAccount(hub: DesktopApi, sessionId: string, name: string) {
  const info = (await hub.server.connectionInfo())!
  const socket = io(info.url, { auth: { token: info.token }, transports: ['websocket'] })
  const qr = new Promise<{ qr_data: string }>((resolve) => socket.once('qr_code', resolve))
  socket.emit('get_qr', { session_id: sessionId })
  const res = await fetch(
    `${info.url}api/sessions/${sessionId}/simulate-scan?token=${info.token}`,
    {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ qr_data: (await qr).qr_data, name }),
    },
  )
  expect(res.status).toBe(200)
  return { info, socket }
}

/** WhatsApp goes silent on a linked account (true), or answers again (false). */
async function silence(hub: DesktopApi, sessionId: string, silent: boolean) {
  const info = (await hub.server.connectionInfo())!
  const res = await fetch(
    `${info.url}api/sessions/${sessionId}/simulate-silence?token=${info.token}`,
    {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ silent }),
    },
  )
  expect(res.status).toBe(200)
}

describe('launch', () => {
  it('starts the hub, which a real client can use with the token, and the tray says running', async () => {
    const { hub } = await launchApp()
    const info = (await hub.server.connectionInfo())!
    expect(info.accessUrl).toBe(`${info.url}?token=${info.token}`)
    const socket = io(info.url, {
      auth: { token: info.token },
      transports: ['websocket'],
      reconnection: false,
    })
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve())
      socket.once('connect_error', reject)
    })
    const port = new URL(info.url).port
    await until(() => tray().tooltip === `WA Link Hub — running on :${port} · 1 client · 0 linked`)
    expect(menuLabels()).toContain('Stop server')
    expect(tray().image.path).toMatch(/tray[/\\]running\.png$/)
    socket.close()
  })

  it('keeps its own window allowed when CORS_ORIGINS limits browsers', async () => {
    vi.stubEnv('CORS_ORIGINS', 'https://shop.example.com')
    const { hub } = await launchApp()
    const { url } = (await hub.server.connectionInfo())!
    const handshake = (origin: string) =>
      fetch(`${url}socket.io/?EIO=4&transport=polling`, { headers: { Origin: origin } })
    expect((await handshake('app://wa-link-hub')).status).toBe(200)
    expect((await handshake('https://shop.example.com')).status).toBe(200)
    expect((await handshake('https://elsewhere.example.com')).status).toBe(403)
  })

  it('Stop and Start from the tray menu close and reopen the port', async () => {
    const { hub } = await launchApp()
    const { url } = (await hub.server.connectionInfo())!
    tray()._clickItem('toggle')
    await until(() => tray().tooltip === 'WA Link Hub — server stopped')
    await expect(fetch(`${url}health`)).rejects.toThrow()
    expect(menuLabels()).toContain('Start server')
    expect(tray().image.path).toMatch(/stopped\.png$/)
    expect(tray().menu!.getMenuItemById('copy-url')!.enabled).toBe(false)

    tray()._clickItem('toggle')
    await until(() => tray().tooltip.includes('running'))
    const again = (await hub.server.connectionInfo())!
    expect((await fetch(`${again.url}health`)).status).toBe(200)
  })

  it('Stop and Start over IPC, with the status pushed to the window', async () => {
    const { hub } = await launchApp()
    const pushed: ServerStatus[] = []
    const unsubscribe = hub.server.onStatus((status) => pushed.push(status))
    const { url } = (await hub.server.connectionInfo())!
    expect((await hub.server.stop()).state).toBe('stopped')
    await expect(fetch(`${url}health`)).rejects.toThrow()
    await until(() => pushed.some((status) => status.state === 'stopped'))
    expect(await hub.server.connectionInfo()).toBeNull()
    const started = await hub.server.start()
    expect(started).toMatchObject({ state: 'running', url: expect.stringMatching(/^http:/) })
    unsubscribe()
  })

  it('copies the access URL (with the token) from the tray', async () => {
    const { hub } = await launchApp()
    tray()._clickItem('copy-url')
    expect(fake.clipboard).toBe((await hub.server.connectionInfo())!.accessUrl)
    tray()._clickItem('open-logs')
    await until(() => fake.openedPaths.length === 1)
    expect(fake.openedPaths[0]).toMatch(/logs$/)
  })

  it('shows the error state when the port is in use, without throwing', async () => {
    const blocker = createServer()
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
    const { port } = blocker.address() as { port: number }
    vi.stubEnv('WS_PORT', String(port))
    try {
      const { hub } = await launchApp({ waitForRunning: false })
      await until(() => tray().tooltip.startsWith('WA Link Hub — error'))
      expect(tray().tooltip).toContain(`Port ${port} is in use — choose another in Settings`)
      expect(tray().image.path).toMatch(/error\.png$/)
      expect(await hub.server.status()).toMatchObject({
        state: 'error',
        error: {
          code: 'port_in_use',
          message: `Port ${port} is in use — choose another in Settings`,
        },
      })
      expect(fake.quitted).toBe(false)
      // choosing another port in Settings restarts the server there
      const free = await freePort()
      const settings = await hub.settings.set({ port: free })
      expect(settings.port).toBe(free)
      expect(await hub.server.status()).toMatchObject({ state: 'running', port: free })
      expect((await fetch(`http://127.0.0.1:${free}/health`)).status).toBe(200)
      await until(() => tray().tooltip.includes(`running on :${free}`))
    } finally {
      blocker.close()
    }
  })
})

describe('window', () => {
  it('is created with secure webPreferences and a bundled preload', async () => {
    await launchApp()
    const window = fake.windows[0]!
    const prefs = window.options.webPreferences as Record<string, unknown>
    expect(prefs).toMatchObject({
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
    })
    expect(prefs.preload).toMatch(/preload[/\\]index\.cjs$/)
    expect(window.webContents.loadedUrl).toBe('app://wa-link-hub/index.html')
  })

  it('gets its page from app://, with a CSP header that allows connections only to the hub host', async () => {
    await launchApp()
    expect(fake.protocol.privileged).toEqual([
      { scheme: 'app', privileges: expect.objectContaining({ standard: true, secure: true }) },
    ])
    const page = await fake.protocol._request(fake.windows[0]!.webContents.loadedUrl!)
    expect(page.status).toBe(200)
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8')
    expect(await page.text()).toContain('<title>WA Link Hub</title>')
    const csp = page.headers.get('content-security-policy')!
    expect(csp).toContain("connect-src 'self' http://127.0.0.1:* ws://127.0.0.1:*;")
    expect(csp).toContain("script-src 'self';")
    expect(csp).toContain("object-src 'none'")
  })

  it('serves nothing outside the renderer folder over app://', async () => {
    await launchApp()
    for (const url of [
      'app://wa-link-hub/..%2f..%2fpackage.json',
      'app://wa-link-hub/%2e%2e/%2e%2e/package.json',
      'app://wa-link-hub/%E0%A4%A',
      'app://wa-link-hub/no-such-file.js',
      'app://wa-link-hub/src',
      'app://elsewhere/index.html',
    ])
      expect((await fake.protocol._request(url)).status, url).toBe(404)
  })

  it('reloads its page when the server moves to another host, with a CSP for that host', async () => {
    const { hub } = await launchApp()
    const contents = fake.windows[0]!.webContents
    await fake.protocol._request(contents.loadedUrl!)
    await hub.settings.set({ port: await freePort() })
    expect(contents.reloads).toBe(0) // same host, any port: the page stays
    await hub.settings.set({ host: '127.0.0.2' })
    await until(() => contents.reloads === 1)
    const page = await fake.protocol._request(contents.loadedUrl!)
    expect(page.headers.get('content-security-policy')).toContain(
      "connect-src 'self' http://127.0.0.2:* ws://127.0.0.2:*;",
    )
    expect((await hub.server.connectionInfo())!.url).toMatch(/^http:\/\/127\.0\.0\.2:/)
    await hub.server.stop()
    await hub.server.start()
    expect(contents.reloads).toBe(1)
  })

  it('denies new windows, opening only http/https links in the browser', async () => {
    await launchApp()
    const contents = fake.windows[0]!.webContents
    expect(contents._open('https://faq.whatsapp.com/')).toEqual({ action: 'deny' })
    expect(contents._open('file:///etc/passwd')).toEqual({ action: 'deny' })
    expect(contents._open('javascript:alert(1)')).toEqual({ action: 'deny' })
    expect(fake.openedExternal).toEqual(['https://faq.whatsapp.com/'])
  })

  it('blocks navigation away from the app', async () => {
    await launchApp()
    const contents = fake.windows[0]!.webContents
    expect(contents._navigate('https://evil.example/')).toBe(false)
    expect(contents._navigate('file:///etc/passwd')).toBe(false)
    expect(contents._navigate(contents.getURL())).toBe(true)
  })

  it('hides to the tray on close; the server keeps running; Open shows it again', async () => {
    const { hub } = await launchApp()
    const window = fake.windows[0]!
    window.close()
    expect(window.isDestroyed()).toBe(false)
    expect(window.isVisible()).toBe(false)
    expect(fake.quitted).toBe(false)
    expect((await hub.server.status()).state).toBe('running')
    tray()._clickItem('open')
    expect(window.isVisible()).toBe(true)
  })

  it('closes for real when close-to-tray is off', async () => {
    const { hub } = await launchApp()
    await hub.settings.set({ closeToTray: false })
    const window = fake.windows[0]!
    window.close()
    expect(window.isDestroyed()).toBe(true)
    // window-all-closed does not quit: the tray keeps the app and its server
    expect(fake.quitted).toBe(false)
    tray()._clickItem('open')
    expect(fake.windows.filter((w) => !w.isDestroyed())).toHaveLength(1)
  })
})

describe('IPC', () => {
  it('refuses calls from a sender that is not our window', async () => {
    await launchApp()
    const stranger = fake.attachRenderer(new WebContents())
    await expect(stranger.invoke(IpcChannel.serverStatus)).rejects.toThrow(
      /not a WA Link Hub window/,
    )
    await expect(stranger.invoke(IpcChannel.serverStop)).rejects.toThrow()
  })

  it('validates payloads', async () => {
    const { renderer, hub } = await launchApp()
    await expect(renderer.invoke(IpcChannel.logsRecent, 'all')).rejects.toThrow(/invalid arguments/)
    await expect(renderer.invoke(IpcChannel.logsRecent, 5000)).rejects.toThrow(/invalid arguments/)
    await expect(hub.settings.set({ port: 'high' as unknown as number })).rejects.toThrow(/port/)
    await expect(hub.settings.set({ provider: 'telegram' as 'simulated' })).rejects.toThrow()
    await expect(hub.settings.set({ unknown: true } as object)).rejects.toThrow()
    expect((await hub.settings.get()).provider).toBe('simulated')
  })

  it('streams hub log lines to logs.onEntry, until unsubscribed', async () => {
    const { hub } = await launchApp()
    const seen: LogEntry[] = []
    const unsubscribe = hub.logs.onEntry((entry) => seen.push(entry))
    const info = (await hub.server.connectionInfo())!
    const socket = io(info.url, { auth: { token: info.token }, transports: ['websocket'] })
    await until(() => seen.some((entry) => entry.message === 'Client connected'))
    unsubscribe()
    const count = seen.length
    socket.close()
    await until(async () =>
      (await hub.logs.recent(5)).some((entry) => entry.message === 'Client disconnected'),
    )
    expect(seen).toHaveLength(count)
    const recent = await hub.logs.recent()
    expect(recent.map((entry) => entry.message)).toContain('Client connected')
    expect(recent.length).toBeLessThanOrEqual(1000)
  })
})

describe('preload', () => {
  it('exposes exactly the documented API under `hub` and nothing else', async () => {
    await launchApp()
    expect(Object.keys(fake.mainWorld)).toEqual(['hub'])
    const hub = fake.mainWorld.hub as DesktopApi
    const shape = Object.fromEntries(
      Object.entries(hub).map(([group, verbs]) => [group, Object.keys(verbs as object).sort()]),
    )
    expect(shape).toEqual({
      server: ['connectionInfo', 'onStatus', 'start', 'status', 'stop'],
      logs: ['onEntry', 'openFolder', 'recent'],
      settings: ['get', 'set'],
      dataKey: ['status'],
      sessions: ['onSelect'],
    })
    for (const verbs of Object.values(hub)) {
      for (const verb of Object.values(verbs as object)) expect(typeof verb).toBe('function')
    }
  })
})

describe('notifications', () => {
  it('notifies once when an account is linked; clicking it shows the window on that account', async () => {
    const { hub } = await launchApp()
    expect((await hub.settings.get()).notifications).toBe(true)
    const selected: string[] = []
    hub.sessions.onSelect((sessionId) => selected.push(sessionId))
    const window = fake.windows[0]!
    window.hide()
    const { socket } = await linkAccount(hub, 'desk', 'Desk phone')
    await until(() => fake.shownNotifications().length === 1)
    const [notification] = fake.shownNotifications()
    expect(notification).toMatchObject({
      title: 'Account linked',
      body: 'Desk phone (desk) is linked to WhatsApp.',
    })
    expect(notification!.icon).toMatch(/resources[/\\]icon\.png$/)
    notification!._click()
    expect(window.isVisible()).toBe(true)
    expect(window.focused).toBe(true)
    expect(selected).toEqual(['desk'])
    expect(fake.notifications).toHaveLength(1)
    socket.close()
  })

  it('with the window closed, a click opens a new one and selects the account once its page has loaded', async () => {
    const { hub } = await launchApp()
    await hub.settings.set({ closeToTray: false })
    const { socket } = await linkAccount(hub, 'desk', 'Desk phone')
    await until(() => fake.shownNotifications().length === 1)
    fake.windows[0]!.close()
    expect(fake.windows[0]!.isDestroyed()).toBe(true)
    fake.shownNotifications()[0]!._click()
    const opened = fake.windows[1]!
    expect(opened.isVisible()).toBe(true)
    const selections = () =>
      opened.webContents.sent.filter(
        ({ channel, args }) =>
          channel === IpcChannel.push && (args[0] as { kind: string }).kind === 'select-session',
      )
    // a page still loading would miss it
    expect(opened.webContents.isLoading()).toBe(true)
    expect(selections()).toEqual([])
    await until(() => selections().length === 1)
    expect(selections()[0]!.args[0]).toEqual({ kind: 'select-session', sessionId: 'desk' })
    socket.close()
  })

  it('hands a selection asked for before the page listened to its first listener', async () => {
    const { hub } = await launchApp()
    const { socket } = await linkAccount(hub, 'desk', 'Desk phone')
    await until(() => fake.shownNotifications().length === 1)
    fake.shownNotifications()[0]!._click()
    const first: string[] = []
    const second: string[] = []
    hub.sessions.onSelect((sessionId) => first.push(sessionId))
    hub.sessions.onSelect((sessionId) => second.push(sessionId))
    expect(first).toEqual(['desk'])
    expect(second).toEqual([])
    socket.close()
  })

  it('shows none once turned off in Settings, which does not restart the server', async () => {
    const { hub } = await launchApp()
    const states: string[] = []
    hub.server.onStatus((status) => states.push(status.state))
    expect((await hub.settings.set({ notifications: false })).notifications).toBe(false)
    const { socket } = await linkAccount(hub, 'desk', 'Desk phone')
    await until(() => tray().tooltip.endsWith('· 1 linked'))
    expect(fake.notifications).toEqual([])
    expect(states).not.toContain('stopping')
    socket.close()
  })
})

describe('tray', () => {
  it('a degraded account: one notification, the tray says so and lists it; its menu item opens it', async () => {
    vi.stubEnv('HEALTH_SILENCE_MS', '1000')
    const { hub } = await launchApp()
    const selected: string[] = []
    hub.sessions.onSelect((sessionId) => selected.push(sessionId))
    const { socket } = await linkAccount(hub, 'desk', 'Desk phone')
    await until(() => tray().tooltip.endsWith('· 1 linked'))
    await silence(hub, 'desk', true)
    await until(() => fake.notifications.length === 2)
    expect(fake.notifications[1]).toMatchObject({ title: 'Account degraded' })
    expect(fake.notifications[1]!.body).toMatch(
      /^Desk phone \(desk\): WhatsApp has not answered for \d+\.\d s\./,
    )
    await until(() => tray().tooltip.endsWith('· 1 linked (1 degraded)'))
    expect(tray().image.path).toMatch(/tray[/\\]degraded\.png$/)
    expect(menuLabels()).toContain('Degraded accounts (1)')
    expect(tray().menu!.getMenuItemById('degraded:desk')!.label).toMatch(
      /^Desk phone \(desk\) — WhatsApp has not answered for/,
    )
    tray()._clickItem('degraded:desk')
    expect(selected).toEqual(['desk'])

    await silence(hub, 'desk', false)
    await until(() => tray().tooltip.endsWith('· 1 linked'))
    expect(tray().image.path).toMatch(/tray[/\\]linked\.png$/)
    expect(tray().menu!.getMenuItemById('degraded')).toBeNull()
    expect(fake.notifications).toHaveLength(2)
    socket.close()
  })
})

describe('safety net', () => {
  it('logs an error nobody caught with its origin and stack, to main.log and the window; app and hub keep going', async () => {
    const { hub } = await launchApp()
    const [onException] = appFaultListeners('uncaughtException')
    const [onRejection] = appFaultListeners('unhandledRejection')
    expect(onException).toBeDefined()
    expect(onRejection).toBeDefined()
    // What Node does with a throw in a timer, and with a rejection nobody awaits
    onException!(new Error('a timer went wrong'), 'uncaughtException')
    onRejection!('a plain string rejection', Promise.resolve())

    const faults = (await hub.logs.recent()).filter((entry) =>
      entry.message.startsWith('Unexpected failure'),
    )
    expect(faults).toEqual([
      expect.objectContaining({
        level: 'error',
        fields: expect.objectContaining({
          origin: 'uncaughtException',
          error: 'a timer went wrong',
          stack: expect.stringContaining('desktop.test.ts'),
        }),
      }),
      expect.objectContaining({
        fields: { origin: 'unhandledRejection', error: 'a plain string rejection' },
      }),
    ])
    const logFile = join(fake.app.getPath('logs'), 'main.log')
    await until(() => readFileSync(logFile, 'utf8').includes('error="a timer went wrong"'))
    expect(fake.quitted).toBe(false)
    expect(fake.app.exitCode).toBeUndefined()
    const info = (await hub.server.connectionInfo())!
    expect((await fetch(`${info.url}health`)).status).toBe(200)
  })
})

describe('quit and relaunch', () => {
  it('stops the hub before quitting; a linked session is still linked after a fresh launch, without a notification', async () => {
    const { hub } = await launchApp()
    const { info, socket } = await linkAccount(hub, 'desk', 'Desk phone')
    socket.close()

    userData = fake.app.getPath('userData')
    await quitApp()
    expect(fake.quitted).toBe(true)
    await expect(fetch(`${info.url}health`)).rejects.toThrow()

    fake.reset({ userData })
    const relaunched = await launchApp()
    const again = (await relaunched.hub.server.connectionInfo())!
    expect(again.token).toBe(info.token)
    const stats = (await (await fetch(`${again.url}stats?token=${again.token}`)).json()) as {
      sessions: object
    }
    expect(stats.sessions).toMatchObject({ total: 1, authenticated: 1 })
    await until(() => tray().tooltip.endsWith('· 1 linked'))
    expect(tray().image.path).toMatch(/linked\.png$/)
    // restored at start-up, not linked now
    expect(fake.notifications).toEqual([])
  })

  it('a second instance quits at once and the first shows and focuses its window', async () => {
    await launchApp()
    const window = fake.windows[0]!
    window.hide()
    window.minimize()
    fake.app.emit('second-instance', {}, ['wa-link-hub'], process.cwd())
    expect(window.isVisible()).toBe(true)
    expect(window.isMinimized()).toBe(false)
    expect(window.focused).toBe(true)
  })

  it('without the single-instance lock, the app quits without starting anything', async () => {
    fake.singleInstanceLock = false
    vi.resetModules()
    await import('../../main/index')
    await until(() => fake.quitted)
    expect(fake.windows).toHaveLength(0)
    expect(fake.trays).toHaveLength(0)
  })
})
