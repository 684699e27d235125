import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import type { Browser, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { QrCodeEvent } from '../../server/protocol'
import { nextEvent, startTestHub, type TestHub } from '../helpers/hub'
import { launchBrowser, screenshot, watchProblems } from './browser'

const WEB_ROOT = fileURLToPath(new URL('../../out/renderer', import.meta.url))
/**
 * Silence before an account is degraded; twice that and the hub reconnects it. Long enough for
 * the test to see "Degraded" and answer again before the reconnect would start.
 */
const SILENCE_MS = 3000

let browser: Browser
const hubs: TestHub[] = []

beforeAll(async () => {
  browser = await launchBrowser()
})
afterAll(async () => {
  await browser?.close()
})
afterEach(async () => {
  for (const context of browser.contexts()) await context.close()
  for (const hub of hubs.splice(0)) await hub.close(true)
})

async function startHub(env: Record<string, string> = {}, dataDir?: string): Promise<TestHub> {
  const hub = await startTestHub(env, { webRoot: WEB_ROOT, ...(dataDir ? { dataDir } : {}) })
  hubs.push(hub)
  return hub
}

async function openUi(hub: TestHub): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1200, height: 860 }, locale: 'en-US' })
  const problems = watchProblems(page)
  await page.goto(hub.info.accessUrl)
  await page.getByTestId('connection').filter({ hasText: 'Connected' }).waitFor()
  return { page, problems }
}

/** Links a new account from the page, as a person does with the simulated provider. */
async function linkFromPage(page: Page): Promise<string> {
  await page.getByRole('button', { name: 'Link a new account' }).click()
  await page.getByTestId('qr-image').waitFor()
  await page.getByRole('button', { name: 'Simulate scan' }).click()
  await page.getByText('Linked to Simulated phone', { exact: true }).waitFor()
  return (await page.locator('.session-id').textContent())!
}

async function silence(hub: TestHub, sessionId: string, silent: boolean): Promise<void> {
  const response = await hub.fetch(`/api/sessions/${sessionId}/simulate-silence`, {
    method: 'POST',
    body: JSON.stringify({ silent }),
  })
  expect(response.status).toBe(200)
}

describe('account health and history in Chromium against a real hub', () => {
  it('shows Degraded with the reason while WhatsApp is silent, clears it, and lists it all in the history', async () => {
    const hub = await startHub({ HEALTH_SILENCE_MS: String(SILENCE_MS) })
    const { page, problems } = await openUi(hub)
    const sessionId = await linkFromPage(page)
    const item = page.locator(`[data-session="${sessionId}"]`)
    const panel = page.getByTestId('session-detail')

    await panel.getByRole('button', { name: 'Connection history', exact: true }).click()
    const history = page.getByRole('region', { name: 'Connection history' })
    await history.getByText('Linked to Simulated phone', { exact: true }).waitFor()

    await silence(hub, sessionId, true)
    await item.getByTestId('health-chip').filter({ hasText: 'Degraded' }).waitFor()
    await item.getByText(/^WhatsApp has not answered for \d+(\.\d)? s$/).waitFor()
    await panel.getByTestId('health-chip').filter({ hasText: 'Degraded' }).waitFor()
    expect(await panel.getByTestId('health-note').textContent()).toMatch(
      /WhatsApp has not answered for .* s.*reconnects this account by itself/,
    )
    // The open history follows the status push by itself.
    await history
      .getByText('The hub: watching; reconnecting if it stays silent', { exact: true })
      .waitFor()
    await screenshot(page, 'degraded')

    await silence(hub, sessionId, false)
    await page.getByTestId('health-chip').first().waitFor({ state: 'detached' })
    expect(await item.getByText(/WhatsApp has not answered/).count()).toBe(0)
    expect(await item.getByTestId('state-chip').textContent()).toBe('Linked')
    await history.getByText('WhatsApp answers again', { exact: true }).waitFor()

    const entries = history.getByRole('listitem')
    expect(await entries.count()).toBe(3)
    const [recovered, degraded, linked] = await entries.all()
    expect(await recovered!.textContent()).toMatch(
      /Recovered.*WhatsApp answers again.*The hub: nothing to do/,
    )
    expect(await degraded!.textContent()).toMatch(
      /Degraded.*WhatsApp has not answered for .* s.*The hub: watching; reconnecting if it stays silent/,
    )
    expect(await linked!.textContent()).toMatch(
      /Linked.*Linked to Simulated phone.*The hub: nothing to do/,
    )
    expect(await linked!.locator('time').getAttribute('datetime')).toMatch(/^\d{4}-\d\d-\d\dT/)
    await screenshot(page, 'history')
    expect(problems).toEqual([])
  })

  it('shows that a stored account cannot be read with this data key, and what to do', async () => {
    const first = await startHub({ DATA_KEY: randomBytes(32).toString('base64') })
    const side = await first.connect()
    const qr = nextEvent<QrCodeEvent>(side, 'qr_code')
    await side.emitWithAck('get_qr', { session_id: 'locked' })
    const scan = await first.fetch('/api/sessions/locked/simulate-scan', {
      method: 'POST',
      body: JSON.stringify({ qr_data: (await qr).qr_data }),
    })
    expect(scan.status).toBe(200)
    await first.close()
    hubs.splice(hubs.indexOf(first), 1)

    // The same data, another key: the hub keeps the session and says why it cannot use it.
    const hub = await startHub({ DATA_KEY: randomBytes(32).toString('base64') }, first.dataDir)
    const { page, problems } = await openUi(hub)
    const item = page.locator('[data-session="locked"]')
    expect(await item.getByTestId('state-chip').textContent()).toBe(
      'Disconnected — the link failed',
    )
    const panel = page.getByTestId('session-detail')
    await panel.getByText('Disconnected: the link failed', { exact: true }).waitFor()
    expect(await panel.getByTestId('ended-detail').textContent()).toBe(
      'The data key does not match the one this session was stored with; nothing was deleted',
    )

    await panel.getByRole('button', { name: 'Get a new code' }).click()
    expect(await panel.getByRole('alert').textContent()).toMatch(
      /Fix the data key and restart, or disconnect this session to delete its data/,
    )
    await screenshot(page, 'data-key-mismatch')

    await panel.getByRole('button', { name: 'Disconnect' }).click()
    await panel.getByRole('button', { name: 'Yes, disconnect' }).click()
    await panel.getByText('Disconnected: logged out here', { exact: true }).waitFor()
    expect(problems).toEqual([])
  })

  it('says why "Link a new account" was refused over a limit', async () => {
    const hub = await startHub({ MAX_PENDING_PER_CLIENT: '1' })
    const { page } = await openUi(hub)
    const link = page.getByRole('button', { name: 'Link a new account' })
    await link.click()
    await page.getByTestId('qr-image').waitFor()
    await link.click()
    const accounts = page.getByRole('region', { name: 'Accounts', exact: true })
    await accounts
      .getByRole('alert')
      .filter({
        hasText:
          'this connection already has 1 links waiting for a scan (MAX_PENDING_PER_CLIENT); finish or disconnect one first',
      })
      .waitFor()
    expect(await page.getByRole('alert').count()).toBe(1)
    expect(await accounts.locator('[data-session]').count()).toBe(1)
    await screenshot(page, 'limit-reached')
  })
})
