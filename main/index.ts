/**
 * Lifecycle only: the single-instance lock, start-up on `ready`, and a graceful stop before quit.
 * Each concern lives in its own module; this file wires them together.
 */
import { app, clipboard, shell, type BrowserWindow } from 'electron'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadConfig, type Config } from '../server/config'
import { displayHost } from '../server/hub'
import type { FaultOrigin } from '../server/metrics'
import { installSafetyNet } from '../server/safety-net'
import { APP_URL, handleAppScheme, registerAppScheme } from './app-protocol'
import { openDataKey } from './data-key'
import { createHubHost } from './hub-host'
import { push, setupIpc } from './ipc'
import { createAppLogger } from './logger'
import { createNotifier } from './notifications'
import { defaultSettings, loadSettings } from './settings'
import { createTray, type TrayState } from './tray'
import { createMainWindow } from './window'

const here = fileURLToPath(new URL('.', import.meta.url))
/** Built layout: out/main (this file), out/preload, out/renderer. */
const paths = {
  preload: join(here, '../preload/index.cjs'),
  webRoot: join(here, '../renderer'),
}

async function main(): Promise<void> {
  // A second launch hands over to the first one, which shows its window.
  if (!app.requestSingleInstanceLock()) {
    app.quit()
    return
  }

  let window: BrowserWindow | undefined
  let quitting = false
  let stopped = false

  const showWindow = (): BrowserWindow => {
    if (!window || window.isDestroyed()) window = openWindow()
    if (window.isMinimized()) window.restore()
    window.show()
    window.focus()
    return window
  }
  // A page still loading (a window just opened) would miss the message: it goes once loaded.
  const openAccount = (sessionId: string) => {
    const shown = showWindow()
    const select = () => push(shown, { kind: 'select-session', sessionId })
    if (shown.webContents.isLoading()) shown.webContents.once('did-finish-load', select)
    else select()
  }
  app.on('second-instance', showWindow)
  app.on('activate', showWindow)
  // Closing every window keeps the app (and its server) alive in the tray.
  app.on('window-all-closed', () => undefined)
  registerAppScheme()

  await app.whenReady()

  const env = process.env
  const envConfig = environmentConfig(env)
  // The project folder in development, the app archive when packaged: icons live in resources/.
  const resources = join(app.getAppPath(), 'resources')
  const logger = createAppLogger({
    folder: app.getPath('logs'),
    level: envConfig?.logLevel ?? 'info',
    console: !app.isPackaged,
  })
  // From here on an error nobody caught is logged and the app carries on. Before this point only
  // the lock and the event wiring ran; main() reports its own failure.
  let countFault = (_origin: FaultOrigin): void => undefined
  installSafetyNet(logger.app, (origin) => countFault(origin))

  const userData = app.getPath('userData')
  const settings = await loadSettings(userData, defaultSettings(envConfig))
  const dataKey = await openDataKey({
    folder: userData,
    logger: logger.app,
    consent: {
      accepted: settings.unprotectedDataKeyAccepted,
      accept: settings.acceptUnprotectedDataKey,
    },
  })
  if ('quit' in dataKey) {
    app.quit()
    return
  }
  const host = createHubHost({
    env,
    dataDir: userData,
    settings: settings.get,
    logger,
    webRoot: paths.webRoot,
    dataKey: dataKey.key,
  })
  countFault = (origin) => host.recordFault(origin)
  const notifier = createNotifier({
    enabled: () => settings.get().notifications,
    open: openAccount,
    icon: join(resources, 'icon.png'),
  })
  host.onAlert((alert) => notifier.notify(alert))

  const page = handleAppScheme(paths.webRoot, () => displayHost(settings.get().host))
  const openWindow = () =>
    createMainWindow({
      preload: paths.preload,
      // `electron-vite dev` sets the renderer's development server; otherwise the app:// page.
      url: (app.isPackaged ? undefined : env.ELECTRON_RENDERER_URL) ?? APP_URL,
      icon: join(resources, 'icon.png'),
      closeToTray: () => settings.get().closeToTray,
      isQuitting: () => quitting,
    })
  window = openWindow()

  const openLogsFolder = async () => {
    const problem = await shell.openPath(logger.folder)
    if (problem) logger.app.warn('Could not open the logs folder', { reason: problem })
  }
  const tray = createTray({
    iconPath: (state: TrayState) => join(resources, 'tray', `${state}.png`),
    actions: {
      open: showWindow,
      openAccount,
      start: () => void host.start(),
      stop: () => void host.stop(),
      copyAccessUrl: () => {
        const info = host.connectionInfo()
        if (info) clipboard.writeText(info.accessUrl)
      },
      openLogs: () => void openLogsFolder(),
      quit: () => app.quit(),
    },
  })

  host.onStatus((status) => {
    tray.update(status)
    push(window, { kind: 'status', status })
    // The page may connect only to the host it was served for: a new host needs a fresh page.
    if (window && !window.isDestroyed()) page.reloadIfStale(window.webContents)
  })
  logger.onEntry((entry) => push(window, { kind: 'log', entry }))
  tray.update(host.status())

  setupIpc({
    isTrustedSender: (sender) =>
      window !== undefined && !window.isDestroyed() && sender === window.webContents,
    logger: logger.app,
    host,
    settings,
    logs: logger,
    openLogsFolder,
    dataKey: dataKey.status,
  })

  // Quit waits for the server to stop, so sessions are flushed to disk first.
  app.on('before-quit', (event) => {
    quitting = true
    if (stopped) return
    event.preventDefault()
    host
      .stop()
      .catch((error: unknown) => logger.app.error('Stopping the server failed', { error }))
      .finally(() => {
        stopped = true
        tray.destroy()
        app.quit()
      })
  })

  logger.app.info('WA Link Hub desktop started', { user_data: userData })
  await host.start()
}

/** The environment's config, parsed once here for the logger and the default settings. */
function environmentConfig(env: Record<string, string | undefined>): Config | undefined {
  try {
    return loadConfig(env)
  } catch {
    return undefined // the hub host reports the bad value in the window and the tray
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`WA Link Hub failed to start: ${(error as Error).stack ?? String(error)}\n`)
  app.exit(1)
})
