/**
 * One hand-written fake of the `electron` module, shared by every main and preload test
 * (registered with vi.mock in setup-electron.ts). It follows Electron's documented behaviour for
 * what the app uses: events and their order, preventDefault on `close` and `before-quit`, the
 * single-instance lock, IPC between a renderer and main, contextBridge, notifications. `fake` holds the handles
 * tests use to drive it and look inside.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

type Listener = (...args: unknown[]) => void

class PreventableEvent {
  defaultPrevented = false
  preventDefault() {
    this.defaultPrevented = true
  }
}

// ---------------------------------------------------------------------------------------------
// app

class App extends EventEmitter {
  isPackaged = false
  private ready = false
  private readyWaiters: (() => void)[] = []
  private paths = new Map<string, string>()
  quitCalls = 0
  exitCode: number | undefined

  requestSingleInstanceLock(): boolean {
    return fake.singleInstanceLock
  }
  whenReady(): Promise<void> {
    if (this.ready) return Promise.resolve()
    return new Promise((resolve) => this.readyWaiters.push(resolve))
  }
  isReady(): boolean {
    return this.ready
  }
  /** Test driver: Electron finished initializing. */
  _becomeReady(): void {
    this.ready = true
    this.emit('ready')
    for (const resolve of this.readyWaiters.splice(0)) resolve()
  }
  getPath(name: string): string {
    const path = this.paths.get(name)
    if (!path) throw new Error(`Failed to get '${name}' path`)
    return path
  }
  setPath(name: string, path: string): void {
    this.paths.set(name, path)
  }
  getAppPath(): string {
    return fake.appPath
  }
  getName(): string {
    return 'WA Link Hub'
  }
  getVersion(): string {
    return '0.0.0-fake'
  }
  /** Like Electron: `before-quit` (preventable), then `will-quit`, then `quit`. */
  quit(): void {
    this.quitCalls += 1
    const event = new PreventableEvent()
    this.emit('before-quit', event)
    if (event.defaultPrevented) return
    for (const window of BrowserWindow.getAllWindows()) window.destroy()
    const willQuit = new PreventableEvent()
    this.emit('will-quit', willQuit)
    if (willQuit.defaultPrevented) return
    fake.quitted = true
    this.emit('quit', new PreventableEvent(), 0)
  }
  exit(code = 0): void {
    this.exitCode = code
    fake.quitted = true
  }
  focus(): void {}
}

// ---------------------------------------------------------------------------------------------
// webContents and BrowserWindow

let nextWebContentsId = 1

export class WebContents extends EventEmitter {
  readonly id = nextWebContentsId++
  private destroyed = false
  windowOpenHandler?: (details: { url: string }) => { action: 'allow' | 'deny' }
  /** Messages main sent to this renderer, in order. */
  readonly sent: { channel: string; args: unknown[] }[] = []
  loadedUrl?: string
  reloads = 0
  private loading = false

  send(channel: string, ...args: unknown[]): void {
    if (this.destroyed) throw new Error('Object has been destroyed')
    // Electron serializes with the structured clone algorithm: functions and the like fail.
    const cloned = args.map((arg) => structuredClone(arg))
    this.sent.push({ channel, args: cloned })
    if (fake.rendererOf.get(this)) fake.rendererOf.get(this)!._deliver(channel, cloned)
  }
  setWindowOpenHandler(handler: (details: { url: string }) => { action: 'allow' | 'deny' }): void {
    this.windowOpenHandler = handler
  }
  isDestroyed(): boolean {
    return this.destroyed
  }
  _destroy(): void {
    this.destroyed = true
    this.emit('destroyed')
  }
  reload(): void {
    this.reloads += 1
    void this._load()
  }
  getURL(): string {
    return this.loadedUrl ?? ''
  }
  /** Like Electron: true from the start of a load until its `did-finish-load`. */
  isLoading(): boolean {
    return this.loading
  }
  /**
   * A page load: `loadURL` resolves once it finished, after `did-finish-load` (Electron's docs,
   * webContents.loadURL). Messages sent before then may reach no page.
   */
  _load(): Promise<void> {
    this.loading = true
    return new Promise((resolve) =>
      setImmediate(() => {
        this.loading = false
        if (!this.destroyed) this.emit('did-finish-load')
        resolve()
      }),
    )
  }
  /** Test driver: the page asks to open a window (`window.open`, target=_blank). */
  _open(url: string): { action: 'allow' | 'deny' } {
    return this.windowOpenHandler?.({ url }) ?? { action: 'allow' }
  }
  /** Test driver: the page tries to navigate; true when the navigation goes ahead. */
  _navigate(url: string): boolean {
    const event = new PreventableEvent()
    this.emit('will-navigate', event, url)
    return !event.defaultPrevented
  }
}

export class BrowserWindow extends EventEmitter {
  static getAllWindows(): BrowserWindow[] {
    return fake.windows.filter((window) => !window.isDestroyed())
  }
  static fromWebContents(contents: WebContents): BrowserWindow | null {
    return fake.windows.find((window) => window.webContents === contents) ?? null
  }

  readonly webContents = new WebContents()
  readonly options: Record<string, unknown>
  private visible: boolean
  private destroyed = false
  private minimized = false
  focused = false

  constructor(options: Record<string, unknown> = {}) {
    super()
    this.options = options
    this.visible = options.show !== false
    fake.windows.push(this)
  }
  loadURL(url: string): Promise<void> {
    this.webContents.loadedUrl = url
    setImmediate(() => this.emit('ready-to-show'))
    return this.webContents._load()
  }
  show(): void {
    this.visible = true
    this.emit('show')
  }
  hide(): void {
    this.visible = false
    this.emit('hide')
  }
  focus(): void {
    this.focused = true
    this.emit('focus')
  }
  isVisible(): boolean {
    return this.visible
  }
  isMinimized(): boolean {
    return this.minimized
  }
  minimize(): void {
    this.minimized = true
  }
  restore(): void {
    this.minimized = false
  }
  /** Like Electron: `close` can be prevented; otherwise the window is destroyed, then `closed`. */
  close(): void {
    if (this.destroyed) return
    const event = new PreventableEvent()
    this.emit('close', event)
    if (event.defaultPrevented) return
    this.destroy()
  }
  destroy(): void {
    if (this.destroyed) return
    this.destroyed = true
    this.visible = false
    this.webContents._destroy()
    this.emit('closed')
    if (BrowserWindow.getAllWindows().length === 0) app.emit('window-all-closed')
  }
  isDestroyed(): boolean {
    return this.destroyed
  }
}

// ---------------------------------------------------------------------------------------------
// Tray, Menu, nativeImage

export class NativeImage {
  constructor(readonly path: string) {}
  isEmpty(): boolean {
    return this.path === ''
  }
}

export const nativeImage = {
  createFromPath: (path: string) => new NativeImage(path),
  createEmpty: () => new NativeImage(''),
}

export class MenuItem {
  id?: string
  label: string
  type: string
  enabled: boolean
  click?: () => void
  constructor(options: {
    id?: string
    label?: string
    type?: string
    enabled?: boolean
    click?: () => void
  }) {
    this.id = options.id
    this.label = options.label ?? ''
    this.type = options.type ?? 'normal'
    this.enabled = options.enabled ?? true
    this.click = options.click
  }
}

export class Menu {
  readonly items: MenuItem[] = []
  static buildFromTemplate(template: ConstructorParameters<typeof MenuItem>[0][]): Menu {
    const menu = new Menu()
    for (const options of template) menu.append(new MenuItem(options))
    return menu
  }
  append(item: MenuItem): void {
    this.items.push(item)
  }
  getMenuItemById(id: string): MenuItem | null {
    return this.items.find((item) => item.id === id) ?? null
  }
}

export class Tray extends EventEmitter {
  image: NativeImage
  tooltip = ''
  menu: Menu | null = null
  destroyed = false
  constructor(image: NativeImage | string) {
    super()
    this.image = typeof image === 'string' ? new NativeImage(image) : image
    fake.trays.push(this)
  }
  setImage(image: NativeImage | string): void {
    this.image = typeof image === 'string' ? new NativeImage(image) : image
  }
  setToolTip(text: string): void {
    this.tooltip = text
  }
  setContextMenu(menu: Menu | null): void {
    this.menu = menu
  }
  destroy(): void {
    this.destroyed = true
  }
  isDestroyed(): boolean {
    return this.destroyed
  }
  /** Test driver: click the menu item with this id, as a person would. */
  _clickItem(id: string): void {
    const item = this.menu?.getMenuItemById(id)
    if (!item) throw new Error(`no tray menu item ${id}`)
    if (!item.enabled) throw new Error(`tray menu item ${id} is disabled`)
    item.click?.()
  }
}

// ---------------------------------------------------------------------------------------------
// Notification

export interface NotificationOptions {
  title?: string
  body?: string
  silent?: boolean
  icon?: string | NativeImage
}

/**
 * Electron's main-process Notification (docs/api/notification.md): nothing appears until `show()`;
 * `show()` again replaces the one on screen with an identical one and fires `show` again; `click`
 * comes from the person. `close` is "not guaranteed" for every way a notification goes: the docs
 * promise it for the person's dismissal, and on Windows also for `close()` and for the timeout
 * that moves a toast to the Action Center, where it can still be clicked. Electron holds the
 * object weakly (electron/electron#16922): an app that keeps no reference loses its `click`.
 */
export class Notification extends EventEmitter {
  static isSupported(): boolean {
    return fake.notificationsSupported
  }

  title: string
  body: string
  silent: boolean
  icon?: string | NativeImage
  /** How many times it was shown. */
  shows = 0
  private onScreen = false

  constructor(options: NotificationOptions = {}) {
    super()
    this.title = options.title ?? ''
    this.body = options.body ?? ''
    this.silent = options.silent ?? false
    this.icon = options.icon
    fake.notifications.push(this)
  }
  show(): void {
    this.onScreen = true
    this.shows += 1
    this.emit('show', new PreventableEvent())
  }
  close(): void {
    if (!this.onScreen) return
    this.onScreen = false
    if (process.platform === 'win32') this.emit('close', new PreventableEvent())
  }
  /** Shown and not yet clicked or dismissed. */
  isOnScreen(): boolean {
    return this.onScreen
  }
  /** Test driver: the person clicks it (the OS takes it away). */
  _click(): void {
    if (!this.onScreen) throw new Error(`notification "${this.title}" is not on screen`)
    this.onScreen = false
    this.emit('click', new PreventableEvent())
  }
  /** Test driver: the person dismisses it. */
  _dismiss(): void {
    if (!this.onScreen) throw new Error(`notification "${this.title}" is not on screen`)
    this.onScreen = false
    this.emit('close', new PreventableEvent())
  }
}

// ---------------------------------------------------------------------------------------------
// IPC

type Handler = (
  event: { sender: WebContents; senderFrame: { url: string } },
  ...args: unknown[]
) => unknown

class IpcMain extends EventEmitter {
  readonly handlers = new Map<string, Handler>()
  handle(channel: string, handler: Handler): void {
    if (this.handlers.has(channel)) {
      throw new Error(`Attempted to register a second handler for '${channel}'`)
    }
    this.handlers.set(channel, handler)
  }
  removeHandler(channel: string): void {
    this.handlers.delete(channel)
  }
  /** What ipcRenderer.invoke does: clone the arguments, run the handler, clone the answer. */
  async _invoke(sender: WebContents, channel: string, args: unknown[]): Promise<unknown> {
    const handler = this.handlers.get(channel)
    if (!handler)
      throw new Error(
        `Error invoking remote method '${channel}': No handler registered for '${channel}'`,
      )
    const event = { sender, senderFrame: { url: sender.getURL() } }
    try {
      return structuredClone(await handler(event, ...args.map((arg) => structuredClone(arg))))
    } catch (error) {
      throw new Error(`Error invoking remote method '${channel}': ${(error as Error).message}`, {
        cause: error,
      })
    }
  }
}

/** The renderer side of one window's IPC. */
export class IpcRenderer extends EventEmitter {
  constructor(private readonly contents: WebContents) {
    super()
  }
  invoke(channel: string, ...args: unknown[]): Promise<unknown> {
    return ipcMain._invoke(this.contents, channel, args)
  }
  send(channel: string, ...args: unknown[]): void {
    ipcMain.emit(channel, { sender: this.contents }, ...args.map((arg) => structuredClone(arg)))
  }
  _deliver(channel: string, args: unknown[]): void {
    this.emit(channel, { sender: this.contents }, ...args)
  }
}

// ---------------------------------------------------------------------------------------------
// protocol

type ProtocolHandler = (request: Request) => Response | Promise<Response>

class Protocol {
  privileged: { scheme: string; privileges?: Record<string, boolean> }[] = []
  readonly handlers = new Map<string, ProtocolHandler>()

  /** Like Electron: allowed only before `ready`. */
  registerSchemesAsPrivileged(
    schemes: { scheme: string; privileges?: Record<string, boolean> }[],
  ): void {
    if (fake.app.isReady())
      throw new Error('protocol.registerSchemesAsPrivileged should be called before app is ready')
    this.privileged.push(...schemes)
  }
  /** Like Electron: only once `ready`, and one handler per scheme. */
  handle(scheme: string, handler: ProtocolHandler): void {
    if (!fake.app.isReady()) throw new Error('The protocol module can only be used after ready')
    if (this.handlers.has(scheme)) throw new Error(`Failed to register protocol: ${scheme}`)
    this.handlers.set(scheme, handler)
  }
  /** Test driver: the window's page requests `url`, as a load or a fetch would. */
  async _request(url: string): Promise<Response> {
    const handler = this.handlers.get(new URL(url).protocol.slice(0, -1))
    if (!handler) throw new Error(`net::ERR_UNKNOWN_URL_SCHEME (${url})`)
    return handler(new Request(url))
  }
  _reset(): void {
    this.privileged = []
    this.handlers.clear()
  }
}

// ---------------------------------------------------------------------------------------------
// contextBridge, shell, clipboard

export const contextBridge = {
  exposeInMainWorld(key: string, api: unknown): void {
    if (key in fake.mainWorld)
      throw new Error(`Cannot bind an API on top of an existing property on the window object`)
    fake.mainWorld[key] = api
  },
}

export const shell = {
  openExternal: async (url: string) => {
    fake.openedExternal.push(url)
  },
  openPath: async (path: string) => {
    fake.openedPaths.push(path)
    return ''
  },
}

export const clipboard = {
  writeText: (text: string) => {
    fake.clipboard = text
  },
  readText: () => fake.clipboard,
}

export type LinuxStorageBackend =
  'basic_text' | 'gnome_libsecret' | 'kwallet' | 'kwallet5' | 'kwallet6' | 'unknown'

/**
 * safeStorage's asynchronous API, the one the app uses: Electron 45's typings deprecate the
 * synchronous encryptString and friends in its favour. Modelled on Electron's
 * electron_api_safe_storage.cc and Chromium's Linux scheme: ciphertext starts with `v11` when
 * the key lives in the OS keystore, `v10` when it was made with Chromium's fixed password (no
 * keyring: `basic_text`). Before `ready` nothing works; a keystore that was reset cannot decrypt
 * what it encrypted before; v10 data still decrypts once a keyring exists, with `shouldReEncrypt`.
 */
class SafeStorage {
  /** Test knob: the secret store Chromium selected on this "machine". */
  backend: LinuxStorageBackend = 'gnome_libsecret'
  /**
   * Test knob: `isAsyncEncryptionAvailable()`'s answer after `ready`. Electron's source answers true
   * once its encryptor is up; the documented contract (a Promise<boolean>) allows false.
   */
  available = true
  /** The keyring is locked or its prompt was denied (Chromium: temporarily unavailable). */
  temporarilyUnavailable = false
  /** The keystore's secret outlives the app, as the OS keystore does: reset() keeps it. */
  private keystoreKey = randomBytes(32)
  private static readonly fixedPasswordKey = createHash('sha256').update('peanuts').digest()

  /**
   * Test knob: the name getSelectedStorageBackend gives, when not `backend`'s. Electron's newer
   * source sets the name only when the synchronous API initialises, so an app that uses only the
   * asynchronous one can read an empty string.
   */
  reportedBackend: string | undefined = undefined

  /** `getSelectedStorageBackend` exists on Linux only, like Electron's. */
  readonly getSelectedStorageBackend =
    process.platform === 'linux'
      ? (): string => (fake.app.isReady() ? (this.reportedBackend ?? this.backend) : 'unknown')
      : undefined

  async isAsyncEncryptionAvailable(): Promise<boolean> {
    return fake.app.isReady() && this.available
  }
  async encryptStringAsync(plainText: string): Promise<Buffer> {
    this.assertReady()
    if (!this.available)
      throw new Error('Error while encrypting the text provided to safeStorage.encryptStringAsync.')
    return this.keystore()
      ? seal('v11', this.keystoreKey, plainText)
      : seal('v10', SafeStorage.fixedPasswordKey, plainText)
  }
  async decryptStringAsync(
    encrypted: Buffer,
  ): Promise<{ shouldReEncrypt: boolean; result: string }> {
    this.assertReady()
    if (!Buffer.isBuffer(encrypted))
      throw new Error('Expected the first argument of decryptStringAsync() to be a buffer')
    if (encrypted.length === 0) return { shouldReEncrypt: false, result: '' }
    const version = encrypted.subarray(0, 3).toString('latin1')
    if (version === 'v11' && this.temporarilyUnavailable)
      throw new Error(
        'safeStorage.decryptStringAsync is temporarily unavailable. Please try again.',
      )
    const key =
      version === 'v10'
        ? SafeStorage.fixedPasswordKey
        : version === 'v11' && this.keystore()
          ? this.keystoreKey
          : undefined
    const result = key ? open(key, encrypted) : undefined
    if (result === undefined)
      throw new Error(
        'Error while decrypting the ciphertext provided to safeStorage.decryptStringAsync.',
      )
    // A better key provider than the one that sealed this data is there now: rotate.
    return { shouldReEncrypt: version === 'v10' && this.keystore(), result }
  }

  /** Test driver: the OS keystore lost its secret (a reset keychain, a new keyring). */
  _resetKeystore(): void {
    this.keystoreKey = randomBytes(32)
  }
  _reset(): void {
    this.backend = 'gnome_libsecret'
    this.reportedBackend = undefined
    this.available = true
    this.temporarilyUnavailable = false
  }

  private keystore(): boolean {
    return process.platform !== 'linux' || this.backend !== 'basic_text'
  }
  private assertReady(): void {
    if (!fake.app.isReady()) throw new Error('safeStorage cannot be used before app is ready')
  }
}

function seal(version: 'v10' | 'v11', key: Buffer, text: string): Buffer {
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  const body = Buffer.concat([cipher.update(text, 'utf8'), cipher.final()])
  return Buffer.concat([Buffer.from(version, 'latin1'), iv, cipher.getAuthTag(), body])
}

function open(key: Buffer, sealed: Buffer): string | undefined {
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(3, 15))
    decipher.setAuthTag(sealed.subarray(15, 31))
    return Buffer.concat([decipher.update(sealed.subarray(31)), decipher.final()]).toString('utf8')
  } catch {
    return undefined
  }
}

// ---------------------------------------------------------------------------------------------
// dialog

export interface MessageBoxOptions {
  message: string
  type?: string
  buttons?: string[]
  defaultId?: number
  cancelId?: number
  title?: string
  detail?: string
}

/** What a person does with the next message box: click the button with this label. */
export type MessageBoxAnswer = string | ((options: MessageBoxOptions) => string)

/**
 * `showMessageBox` resolves with the button a person clicks: tests queue answers in
 * `fake.messageBoxAnswers` (a function answers after doing something first, like unlocking the
 * keyring). With none queued the box is dismissed (Esc), which Electron reports as `cancelId` — by
 * default the first button labelled "cancel" or "no", else 0.
 */
export const dialog = {
  async showMessageBox(
    windowOrOptions: BrowserWindow | MessageBoxOptions,
    maybeOptions?: MessageBoxOptions,
  ): Promise<{ response: number; checkboxChecked: boolean }> {
    const options = (maybeOptions ?? windowOrOptions) as MessageBoxOptions
    const buttons = options.buttons ?? ['OK']
    fake.messageBoxes.push(options)
    const next = fake.messageBoxAnswers.shift()
    const answer = typeof next === 'function' ? next(options) : next
    if (answer !== undefined) {
      const response = buttons.indexOf(answer)
      if (response < 0) throw new Error(`no button "${answer}" in message box: ${options.message}`)
      return { response, checkboxChecked: false }
    }
    const cancel = buttons.findIndex((label) => /^(cancel|no)$/i.test(label))
    return { response: options.cancelId ?? (cancel >= 0 ? cancel : 0), checkboxChecked: false }
  },
}

// ---------------------------------------------------------------------------------------------
// the module's instances, and the handles tests use. They live on globalThis so that a test that
// re-imports the app (vi.resetModules) still drives the same fake Electron.

function createFake() {
  const state = {
    app: new App(),
    ipcMain: new IpcMain(),
    protocol: new Protocol(),
    safeStorage: new SafeStorage(),
    /** Every message box shown, in order, and the button labels tests choose for the next ones. */
    messageBoxes: [] as MessageBoxOptions[],
    messageBoxAnswers: [] as MessageBoxAnswer[],
    /** The renderer process of the window under test. */
    ipcRenderer: new IpcRenderer(new WebContents()),
    windows: [] as BrowserWindow[],
    trays: [] as Tray[],
    /** Every Notification constructed, in order; `shownNotifications()` for those on screen. */
    notifications: [] as Notification[],
    /** `Notification.isSupported()`'s answer on this "system". */
    notificationsSupported: true,
    shownNotifications(): Notification[] {
      return state.notifications.filter((notification) => notification.isOnScreen())
    },
    singleInstanceLock: true,
    appPath: process.cwd(),
    quitted: false,
    clipboard: '',
    openedExternal: [] as string[],
    openedPaths: [] as string[],
    mainWorld: {} as Record<string, unknown>,
    rendererOf: new Map<WebContents, IpcRenderer>(),
    /** Connects a renderer (ipcRenderer) to a window's webContents, as if its page were loaded. */
    attachRenderer(contents: WebContents): IpcRenderer {
      const renderer = new IpcRenderer(contents)
      state.rendererOf.set(contents, renderer)
      state.ipcRenderer = renderer
      return renderer
    },
    /** A fresh Electron: no windows, trays or handlers; paths in a new temp folder. */
    reset(paths: { userData?: string } = {}): void {
      const userData = paths.userData ?? mkdtempSync(join(tmpdir(), 'wa-link-hub-userdata-'))
      const { app, ipcMain } = state
      app.removeAllListeners()
      ipcMain.removeAllListeners()
      ipcMain.handlers.clear()
      app.setPath('userData', userData)
      app.setPath('logs', join(userData, 'logs'))
      app.setPath('temp', tmpdir())
      ;(app as unknown as { ready: boolean }).ready = false
      app.quitCalls = 0
      app.exitCode = undefined
      state.windows = []
      state.trays = []
      state.notifications = []
      state.notificationsSupported = true
      state.singleInstanceLock = true
      state.quitted = false
      state.clipboard = ''
      state.openedExternal = []
      state.openedPaths = []
      state.mainWorld = {}
      state.rendererOf.clear()
      state.protocol._reset()
      state.safeStorage._reset()
      state.messageBoxes = []
      state.messageBoxAnswers = []
      state.ipcRenderer = new IpcRenderer(new WebContents())
    },
  }
  return state
}

const globalKey = '__waLinkHubFakeElectron'
export const fake: ReturnType<typeof createFake> = ((globalThis as Record<string, unknown>)[
  globalKey
] ??= createFake()) as ReturnType<typeof createFake>

export const app = fake.app
export const ipcMain = fake.ipcMain
export const protocol = fake.protocol
export const safeStorage = fake.safeStorage
/** A getter-backed proxy: code that imported it keeps talking to the current renderer. */
export const ipcRenderer = new Proxy({} as IpcRenderer, {
  get(_target, key) {
    const current = fake.ipcRenderer as unknown as Record<string | symbol, unknown>
    const value = current[key]
    return typeof value === 'function'
      ? (value as (...a: unknown[]) => unknown).bind(current)
      : value
  },
})

export type { Listener }

export default {
  app,
  BrowserWindow,
  Tray,
  Menu,
  MenuItem,
  Notification,
  nativeImage,
  ipcMain,
  ipcRenderer,
  protocol,
  contextBridge,
  shell,
  clipboard,
  safeStorage,
  dialog,
}
