import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { vi } from 'vitest'
import type { DesktopApi } from '../../preload/api'
import electron, { fake } from '../mocks/electron'

export const BUILT_MAIN = fileURLToPath(new URL('../../out/main/index.js', import.meta.url))
export const BUILT_PRELOAD = fileURLToPath(new URL('../../out/preload/index.cjs', import.meta.url))

/**
 * Runs a built preload the way a sandboxed renderer does: CommonJS whose `require` knows only
 * `electron`. Anything else it asks for fails, as it would in the real sandbox.
 */
export function runSandboxedPreload(code: string): void {
  const sandboxRequire = (id: string) => {
    if (id === 'electron') return electron
    throw new Error(`module not found in a sandboxed preload: ${id}`)
  }
  const module = { exports: {} }
  new Function('require', 'module', 'exports', code)(sandboxRequire, module, module.exports)
}

/** Polls until `condition` holds (5 s at most). */
export async function until(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline)
      throw new Error(`condition not met within ${timeoutMs} ms: ${condition.toString()}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/**
 * Launches the app the way Electron does: loads the main entry (sources by default, or the built
 * bundle), fires `ready`, then loads the preload into the window's renderer and returns what the
 * page sees as `window.hub`.
 */
export async function launchApp(
  options: { waitForRunning?: boolean; entry?: 'sources' | 'bundle' } = {},
) {
  processListeners = listenersNow()
  vi.resetModules()
  if (options.entry === 'bundle') await import(/* @vite-ignore */ BUILT_MAIN)
  else await import('../../main/index')
  fake.app._becomeReady()
  await until(
    () => fake.windows.length === 1 && fake.trays.length === 1 && fake.ipcMain.handlers.size > 0,
  )
  const renderer = fake.attachRenderer(fake.windows[0]!.webContents)
  if (options.entry === 'bundle') runSandboxedPreload(readFileSync(BUILT_PRELOAD, 'utf8'))
  else await import('../../preload/index')
  const hub = fake.mainWorld.hub as DesktopApi
  if (options.waitForRunning !== false) {
    await until(async () => (await hub.server.status()).state === 'running')
  }
  return { hub, renderer }
}

/** Launches the app where it is expected to quit on its own before it opens a window. */
export async function launchUntilQuit(): Promise<void> {
  processListeners = listenersNow()
  vi.resetModules()
  await import('../../main/index')
  fake.app._becomeReady()
  await until(() => fake.quitted)
}

/** Quits like a person choosing Quit, and waits until the app has really gone. */
export async function quitApp(): Promise<void> {
  if (!fake.quitted) {
    fake.app.quit()
    await until(() => fake.quitted)
  }
  // The real process ends here; this one goes on to the next test, so drop what main installed.
  for (const event of FAULT_EVENTS)
    for (const listener of appFaultListeners(event)) processEvents.off(event, listener)
}

type FaultEvent = 'uncaughtException' | 'unhandledRejection'
type Listener = (...args: unknown[]) => void
const FAULT_EVENTS: FaultEvent[] = ['uncaughtException', 'unhandledRejection']
const processEvents: NodeJS.EventEmitter = process
const listenersNow = () =>
  new Map(FAULT_EVENTS.map((event) => [event, processEvents.listeners(event) as Listener[]]))
let processListeners = listenersNow()

/** The process-level handlers the launched app added (its safety net). */
export function appFaultListeners(event: FaultEvent): Listener[] {
  const before = processListeners.get(event) ?? []
  return (processEvents.listeners(event) as Listener[]).filter((l) => !before.includes(l))
}
