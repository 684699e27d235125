import { fileURLToPath } from 'node:url'
import type { Browser, Page } from 'playwright-core'
import { io, type Socket } from 'socket.io-client'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { loadConfig } from '../../server/config'
import { createHub, type Hub } from '../../server/hub'
import { silentLogger } from '../../server/logger'
import type { QrCodeEvent } from '../../server/protocol'
import { decodeQrDataUrl, freePort, tempDir } from '../helpers/hub'
import { launchBrowser, screenshot, watchProblems } from './browser'

const WEB_ROOT = fileURLToPath(new URL('../../out/renderer', import.meta.url))
const TOKEN = 'e2e-token-0123456789abcdef'

let browser: Browser
let hub: Hub
let port: number
let dataDir: string
let base: string
const clients: Socket[] = []

function makeHub(): Hub {
  const config = loadConfig({
    WS_PORT: String(port),
    WS_HOST: '127.0.0.1',
    SECRET_KEY: TOKEN,
    DATA_DIR: dataDir,
  })
  return createHub(config, { logger: silentLogger, webRoot: WEB_ROOT })
}

/** A protocol client on the side, to see what the hub sent. */
async function sideClient(): Promise<Socket> {
  const socket = io(base, {
    auth: { token: TOKEN },
    transports: ['websocket'],
    reconnection: false,
  })
  clients.push(socket)
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve())
    socket.once('connect_error', reject)
  })
  return socket
}

async function openUi(token = TOKEN): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1200, height: 860 }, locale: 'en-US' })
  const problems = watchProblems(page)
  await page.goto(`${base}/?token=${token}`)
  return { page, problems }
}

/** The session shown in the page's detail panel. */
const shownSessionId = (page: Page) => page.locator('.session-id').first().textContent()

beforeAll(async () => {
  browser = await launchBrowser()
})
afterAll(async () => {
  await browser?.close()
})
beforeEach(async () => {
  port = await freePort()
  dataDir = await tempDir()
  base = `http://127.0.0.1:${port}`
  hub = makeHub()
  await hub.start()
})
afterEach(async () => {
  for (const socket of clients.splice(0)) socket.close()
  for (const context of browser.contexts()) await context.close()
  await hub.stop()
})

describe('web UI in Chromium against a real hub', () => {
  it('shows a decodable QR, links by simulated scan within 1 s, and disconnects', async () => {
    const { page, problems } = await openUi()
    await expect.poll(() => page.url()).toBe(`${base}/`) // the token left the address bar
    await page.getByRole('button', { name: 'Link a new account' }).click()
    const image = page.getByTestId('qr-image')
    await image.waitFor()
    await screenshot(page, 'qr-ready')

    const sessionId = (await shownSessionId(page))!
    const side = await sideClient()
    const current = new Promise<QrCodeEvent>((resolve) => side.once('qr_code', resolve))
    await side.emitWithAck('get_qr', { session_id: sessionId })
    const sent = await current
    const src = (await image.getAttribute('src'))!
    expect(decodeQrDataUrl(src)).toBe(sent.qr_data)
    await page.getByText('QR 1 of 6', { exact: true }).waitFor()

    const clicked = Date.now()
    await page.getByRole('button', { name: 'Simulate scan' }).click()
    await page.getByText('Linked to Simulated phone', { exact: true }).waitFor({ timeout: 1000 })
    expect(Date.now() - clicked).toBeLessThan(1000)
    await screenshot(page, 'linked')

    await page.getByRole('button', { name: 'Disconnect' }).click()
    await page.getByRole('button', { name: 'Yes, disconnect' }).click()
    await page.getByText('Disconnected: logged out here', { exact: true }).waitFor()
    await screenshot(page, 'disconnected')
    expect(problems).toEqual([])
  })

  it('shows reconnecting while the hub is down and recovers the linked session by itself', async () => {
    const { page } = await openUi()
    await page.getByRole('button', { name: 'Link a new account' }).click()
    await page.getByTestId('qr-image').waitFor()
    await page.getByRole('button', { name: 'Simulate scan' }).click()
    await page.getByText('Linked to Simulated phone', { exact: true }).waitFor()

    await hub.stop()
    await page.getByTestId('connection').filter({ hasText: 'Reconnecting' }).waitFor()
    await screenshot(page, 'reconnecting')

    hub = makeHub() // same port, same DATA_DIR
    await hub.start()
    await page
      .getByTestId('connection')
      .filter({ hasText: 'Connected' })
      .waitFor({ timeout: 15_000 })
    await page.getByText('Linked to Simulated phone', { exact: true }).waitFor()
    expect(await page.getByTestId('state-chip').first().textContent()).toBe('Linked')
  })

  it('says "Access token rejected" for a wrong token', async () => {
    const { page } = await openUi('not-the-right-token')
    await page.getByRole('alert').filter({ hasText: 'Access token rejected' }).waitFor()
    expect(await page.getByTestId('connection').textContent()).toContain('Access token rejected')
    await screenshot(page, 'token-rejected')
  })

  it('updates two pages subscribed to one session', async () => {
    const first = await openUi()
    await first.page.getByRole('button', { name: 'Link a new account' }).click()
    await first.page.getByTestId('qr-image').waitFor()
    const sessionId = (await shownSessionId(first.page))!

    const second = await openUi()
    await second.page.locator(`[data-session="${sessionId}"]`).click()
    await second.page.getByTestId('qr-image').waitFor()
    const qrData = (await second.page.getByTestId('qr-image').getAttribute('data-qr'))!

    const response = await fetch(`${base}/api/sessions/${sessionId}/simulate-scan`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ qr_data: qrData, name: 'Shared phone' }),
    })
    expect(response.status).toBe(200)
    await first.page.getByText('Linked to Shared phone', { exact: true }).waitFor()
    await second.page.getByText('Linked to Shared phone', { exact: true }).waitFor()
  })
})

describe('web UI with the desktop bridge', () => {
  it('renders the server controls and calls window.hub', async () => {
    const page = await browser.newPage({ viewport: { width: 1200, height: 860 }, locale: 'en-US' })
    // What the preload would expose, backed by the real hub's address and token.
    await page.addInitScript(
      ({ url, token }) => {
        const calls: string[] = []
        const status = {
          state: 'running',
          host: '127.0.0.1',
          port: Number(new URL(url).port),
          provider: 'simulated',
          url,
          clients: 1,
          sessions: { total: 0, pending: 0, qr_ready: 0, authenticated: 0, disconnected: 0 },
          degraded: { count: 0, accounts: [] },
        }
        const record = (name: string, value: unknown) => {
          calls.push(name)
          return Promise.resolve(value)
        }
        Object.assign(globalThis, {
          __hubCalls: calls,
          hub: {
            server: {
              start: () => record('start', status),
              stop: () => record('stop', { ...status, state: 'stopped' }),
              status: () => record('status', status),
              onStatus: () => () => undefined,
              connectionInfo: () =>
                record('connectionInfo', { url, token, accessUrl: `${url}?token=${token}` }),
            },
            logs: {
              recent: () =>
                record('logs.recent', [
                  { time: new Date().toISOString(), level: 'info', message: 'main process line' },
                ]),
              onEntry: () => () => undefined,
              openFolder: () => record('logs.openFolder', undefined),
            },
            settings: {
              get: () => record('settings.get', {}),
              set: () => record('settings.set', {}),
            },
            dataKey: {
              status: () => record('dataKey.status', { protection: 'os', backend: 'kwallet6' }),
            },
            sessions: {
              onSelect: () => {
                calls.push('sessions.onSelect')
                return () => undefined
              },
            },
          },
        })
      },
      { url: `${base}/`, token: TOKEN },
    )
    await page.goto(`${base}/`)
    const controls = page.getByTestId('server-controls')
    await controls.waitFor()
    await page.getByTestId('connection').filter({ hasText: 'Connected' }).waitFor()
    await page.getByText('main process line', { exact: true }).waitFor()
    await controls.getByRole('button', { name: 'Stop' }).click()
    await controls.getByRole('button', { name: 'Open logs folder' }).click()
    await expect
      .poll(() =>
        page.evaluate(() => (globalThis as unknown as { __hubCalls: string[] }).__hubCalls),
      )
      .toEqual(
        expect.arrayContaining([
          'connectionInfo',
          'stop',
          'logs.openFolder',
          'dataKey.status',
          'sessions.onSelect',
        ]),
      )
    expect(await page.getByTestId('data-key-notice').count()).toBe(0)
    await screenshot(page, 'desktop-controls')
  })
})
