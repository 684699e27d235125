import { BrowserWindow, shell } from 'electron'

export interface WindowOptions {
  preload: string
  /** The page: the development server (electron-vite dev), else the app's own `app://` page. */
  url: string
  icon?: string
  /** Read at close time: the setting can change while the app runs. */
  closeToTray: () => boolean
  isQuitting: () => boolean
}

/** Only web links leave the app, and only to the system browser. */
export function isExternalWebUrl(url: string): boolean {
  try {
    const { protocol } = new URL(url)
    return protocol === 'http:' || protocol === 'https:'
  } catch {
    return false
  }
}

export function createMainWindow(options: WindowOptions): BrowserWindow {
  const window = new BrowserWindow({
    width: 1100,
    height: 760,
    minWidth: 720,
    minHeight: 520,
    show: false,
    title: 'WA Link Hub',
    autoHideMenuBar: true,
    ...(options.icon ? { icon: options.icon } : {}),
    webPreferences: {
      preload: options.preload,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      spellcheck: false,
    },
  })

  // No new windows: web links open in the system browser, everything else is dropped.
  window.webContents.setWindowOpenHandler(({ url }) => {
    if (isExternalWebUrl(url)) void shell.openExternal(url)
    return { action: 'deny' }
  })
  // The window shows the app and nothing else.
  window.webContents.on('will-navigate', (event, url) => {
    if (!isSameDocument(url, options.url)) event.preventDefault()
  })
  window.webContents.on('will-attach-webview', (event) => event.preventDefault())

  window.on('close', (event) => {
    if (!options.isQuitting() && options.closeToTray()) {
      event.preventDefault()
      window.hide()
    }
  })
  window.once('ready-to-show', () => window.show())

  void window.loadURL(options.url)
  return window
}

function isSameDocument(target: string, appUrl: string): boolean {
  try {
    const a = new URL(target)
    const b = new URL(appUrl)
    return a.protocol === b.protocol && a.host === b.host && a.pathname === b.pathname
  } catch {
    return false
  }
}
