import { readFileSync } from 'node:fs'
import type { Browser } from 'playwright-core'
import { createServer, type InlineConfig, type ViteDevServer } from 'vite'
import { afterAll, beforeAll, expect, it } from 'vitest'
import config from '../../electron.vite.config'
import { launchBrowser, watchProblems } from './browser'

let browser: Browser
let server: ViteDevServer

beforeAll(async () => {
  browser = await launchBrowser()
  // The renderer's development server exactly as `npm run dev` configures it.
  const { renderer } = config as { renderer: InlineConfig }
  server = await createServer({
    ...renderer,
    configFile: false,
    logLevel: 'silent',
    server: { host: '127.0.0.1', port: 0 },
  })
  await server.listen()
}, 60_000)

afterAll(async () => {
  await browser?.close()
  await server?.close()
})

it('the development server shows the page with its styles, and the CSP refuses nothing', async () => {
  const page = await browser.newPage()
  const problems = watchProblems(page)
  await page.goto(server.resolvedUrls!.local[0]!)
  await page.getByRole('heading', { name: 'WA Link Hub' }).waitFor()
  // styles.css arrives as an injected <style> element; refused, the body would stay transparent
  expect(await page.evaluate('getComputedStyle(document.body).backgroundColor')).not.toBe(
    'rgba(0, 0, 0, 0)',
  )
  expect(problems.filter((problem) => /Content Security Policy/.test(problem))).toEqual([])
  await page.close()
})

it('built pages keep the strict CSP: no inline styles or scripts', () => {
  const html = readFileSync(new URL('../../out/renderer/index.html', import.meta.url), 'utf8')
  expect(html).toMatch(/script-src 'self'; style-src 'self';/)
  expect(html).not.toContain('unsafe-inline')
})
