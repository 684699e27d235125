// @vitest-environment node
import { existsSync } from 'node:fs'
import { io } from 'socket.io-client'
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { fake } from '../mocks/electron'
import { BUILT_MAIN, BUILT_PRELOAD, launchApp, quitApp, until } from './launch'

// The same checks as the source tests, on what electron-vite built: a bundling mistake (a missing
// external, a preload that needs Node, a wrong path) fails here.
beforeAll(() => {
  if (!existsSync(BUILT_MAIN) || !existsSync(BUILT_PRELOAD)) {
    throw new Error(
      'out/ is missing: run `npx electron-vite build` (npm test does) before this suite',
    )
  }
})
beforeEach(() => {
  fake.reset()
  vi.stubEnv('WS_PORT', '0')
  vi.stubEnv('WS_HOST', '127.0.0.1')
})
afterEach(async () => {
  await quitApp()
  vi.unstubAllEnvs()
})

describe('built app (out/main + out/preload)', () => {
  it('starts the hub, serves a client, and stops it from the tray', async () => {
    const { hub } = await launchApp({ entry: 'bundle' })
    const info = (await hub.server.connectionInfo())!
    const socket = io(info.url, {
      auth: { token: info.token },
      transports: ['websocket'],
      reconnection: false,
    })
    const qr = new Promise<{ session_id: string }>((resolve) => socket.once('qr_code', resolve))
    socket.emit('get_qr', { session_id: 'bundled' })
    expect((await qr).session_id).toBe('bundled')
    socket.close()
    const tray = fake.trays[0]!
    tray._clickItem('toggle')
    await until(() => tray.tooltip === 'WA Link Hub — server stopped')
    await expect(fetch(`${info.url}health`)).rejects.toThrow()
  })

  it('loads the window from the built renderer over app://, with the bundled preload', async () => {
    await launchApp({ entry: 'bundle' })
    const window = fake.windows[0]!
    const page = await fake.protocol._request(window.webContents.loadedUrl!)
    expect(page.status).toBe(200)
    const html = await page.text()
    for (const [path, type] of [
      [/src="\.?(\/assets\/[^"]+\.js)"/.exec(html)?.[1], 'text/javascript; charset=utf-8'],
      [/href="\.?(\/assets\/[^"]+\.css)"/.exec(html)?.[1], 'text/css; charset=utf-8'],
      ['/favicon.png', 'image/png'],
    ]) {
      expect(path).toBeDefined()
      const asset = await fake.protocol._request(`app://wa-link-hub${path}`)
      expect(asset.status, path).toBe(200)
      expect(asset.headers.get('content-type'), path).toBe(type)
    }
    expect(existsSync((window.options.webPreferences as { preload: string }).preload)).toBe(true)
    expect(Object.keys(fake.mainWorld)).toEqual(['hub'])
  })

  it('serves the built web UI to browsers', async () => {
    const { hub } = await launchApp({ entry: 'bundle' })
    const info = (await hub.server.connectionInfo())!
    const page = await fetch(info.url)
    expect(page.status).toBe(200)
    const html = await page.text()
    const script = /src="\.?(\/assets\/[^"]+\.js)"/.exec(html)?.[1]
    expect(script).toBeDefined()
    const asset = await fetch(new URL(script!, info.url))
    expect(asset.status).toBe(200)
    expect(asset.headers.get('cache-control')).toContain('immutable')
    expect(page.headers.get('cache-control')).toBe('no-cache')
  })
})
