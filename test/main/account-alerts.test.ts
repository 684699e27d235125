// @vitest-environment node
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { io, type Socket } from 'socket.io-client'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createHubHost, DEGRADED_LISTED_MAX, type HubHost } from '../../main/hub-host'
import type { AppLogger } from '../../main/logger'
import { createNotifier } from '../../main/notifications'
import type { ServerStatus, Settings } from '../../preload/api'
import { silentLogger } from '../../server/logger'
import { scriptedProvider } from '../helpers/scripted-provider'
import { fake } from '../mocks/electron'
import { until } from './launch'

const quietLogger: AppLogger = {
  file: silentLogger,
  app: silentLogger,
  record: () => undefined,
  recent: () => [],
  onEntry: () => () => undefined,
  folder: tmpdir(),
}

const settings: Settings = {
  port: 5001,
  host: '127.0.0.1',
  provider: 'simulated',
  closeToTray: true,
  notifications: true,
}

let host: HubHost | undefined
const sockets: Socket[] = []

beforeEach(() => fake.reset())
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.close()
  await host?.stop()
  host = undefined
})

/** The hub host as the app runs it, with its alerts shown as notifications; WhatsApp scripted. */
async function startHost(env: Record<string, string> = {}) {
  const whatsapp = scriptedProvider()
  const opened: string[] = []
  host = createHubHost({
    env: { WS_PORT: '0', SECRET_KEY: '', ...env },
    dataDir: await mkdtemp(join(tmpdir(), 'wa-link-hub-alerts-')),
    settings: () => ({ ...settings, port: 0 }),
    logger: quietLogger,
    providerFactory: () => whatsapp.provider,
  })
  const notifier = createNotifier({ enabled: () => true, open: (id) => opened.push(id) })
  host.onAlert((alert) => notifier.notify(alert))
  const statuses: ServerStatus[] = []
  host.onStatus((status) => statuses.push(status))
  await host.start()
  const hub = host
  const info = hub.connectionInfo()!
  const socket = io(info.url, { auth: { token: info.token }, transports: ['websocket'] })
  sockets.push(socket)
  const qrs: string[] = []
  socket.on('qr_code', (qr: { session_id: string }) => qrs.push(qr.session_id))
  /** A client asks for a QR for this session; resolves once it has the QR. */
  const startLink = async (sessionId: string) => {
    expect(await socket.emitWithAck('get_qr', { session_id: sessionId })).toMatchObject({
      ok: true,
    })
    await until(() => qrs.includes(sessionId))
  }
  return { host: hub, whatsapp, opened, statuses, startLink }
}

const titles = () => fake.notifications.map((notification) => notification.title)
const ada = { id: '34600000001@s.whatsapp.net', name: 'Ada' }
const bo = { id: '34600000002@s.whatsapp.net', name: 'Bo' }

describe('account alerts from the hub (notifications)', () => {
  it('notifies once for each change: linked, degraded, logged out, replaced, failed', async () => {
    const { whatsapp, startLink } = await startHost()
    await startLink('desk')
    await whatsapp.link('desk', ada)
    await until(() => titles().length === 1)
    expect(fake.notifications[0]).toMatchObject({
      title: 'Account linked',
      body: 'Ada (desk) is linked to WhatsApp.',
    })

    whatsapp.sink('desk').health('degraded', 'WhatsApp has not answered for 90.0 s')
    await until(() => titles().length === 2)
    expect(fake.notifications[1]!.body).toBe(
      'Ada (desk): WhatsApp has not answered for 90.0 s. The hub reconnects it if it stays silent.',
    )

    whatsapp.sink('desk').disconnected('logged_out_remote')
    await until(() => titles().length === 3)
    expect(fake.notifications[2]!.body).toContain('Ada (desk) was logged out from the phone')

    await startLink('shop')
    await whatsapp.link('shop', bo)
    whatsapp.sink('shop').disconnected('replaced')
    await until(() => titles().length === 5)
    await startLink('till')
    whatsapp.sink('till').disconnected('failed')
    await until(() => titles().length === 6)
    expect(titles()).toEqual([
      'Account linked',
      'Account degraded',
      'Account logged out',
      'Account linked',
      'Account replaced',
      'Account failed',
    ])
    expect(fake.notifications.every((notification) => notification.shows === 1)).toBe(true)
  })

  it('stays quiet through a transient reconnect, and for endings the person chose', async () => {
    const { host: hub, whatsapp, startLink } = await startHost()
    await startLink('desk')
    await whatsapp.link('desk', ada)
    await until(() => titles().length === 1)
    whatsapp.sink('desk').reconnecting(true, { code: 428, retryInMs: 1000 })
    await until(() => hub.status().sessions.authenticated === 1)
    await whatsapp.link('desk', ada)
    whatsapp.sink('desk').disconnected('logout')
    await until(() => hub.status().sessions.disconnected === 1)
    expect(titles()).toEqual(['Account linked'])
  })

  it('says nothing about the accounts restored when the hub starts again, and notifies their later changes', async () => {
    const { host: hub, whatsapp, startLink } = await startHost()
    await startLink('desk')
    await whatsapp.link('desk', ada)
    await until(() => titles().length === 1)

    await hub.stop()
    await hub.start()
    await until(() => hub.status().sessions.authenticated === 1)
    expect(titles()).toEqual(['Account linked'])

    whatsapp.sink('desk').health('degraded', 'WhatsApp has not answered for 90.0 s')
    await until(() => titles().length === 2)
    expect(titles()).toEqual(['Account linked', 'Account degraded'])
  })

  it('clicking a notification opens its account', async () => {
    const { whatsapp, opened, startLink } = await startHost()
    await startLink('desk')
    await whatsapp.link('desk', ada)
    await until(() => fake.shownNotifications().length === 1)
    fake.shownNotifications()[0]!._click()
    expect(opened).toEqual(['desk'])
  })

  it('reports the degraded accounts in its status, newest first, naming at most a few', async () => {
    const { host: hub, whatsapp, statuses, startLink } = await startHost()
    const ids = Array.from({ length: DEGRADED_LISTED_MAX + 2 }, (_, i) => `acct-${i}`)
    for (const [i, id] of ids.entries()) {
      await startLink(id)
      await whatsapp.link(id, { id: `3460000010${i}@s.whatsapp.net`, name: `Account ${i}` })
      whatsapp.sink(id).health('degraded', `silent ${i}`)
    }
    await until(() => hub.status().degraded.count === ids.length)
    const { degraded } = hub.status()
    expect(degraded.accounts).toHaveLength(DEGRADED_LISTED_MAX)
    expect(degraded.accounts[0]).toEqual({
      session_id: `acct-${ids.length - 1}`,
      name: `Account ${ids.length - 1}`,
      reason: `silent ${ids.length - 1}`,
    })
    // pushed to the tray and the window as it changes
    await until(() => statuses.at(-1)?.degraded.count === ids.length)

    whatsapp.sink('acct-0').health('ok')
    await until(() => hub.status().degraded.count === ids.length - 1)
    await hub.stop()
    expect(hub.status().degraded).toEqual({ count: 0, accounts: [] })
  })
})
