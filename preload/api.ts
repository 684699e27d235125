/**
 * THE desktop contract between the main process and the window. The preload implements it
 * (`const api: DesktopApi`), the renderer declares it (`window.hub?: DesktopApi`) and main answers
 * its channels, so a change that drifts fails the typecheck. Types and constants only.
 */

export const IpcChannel = {
  serverStart: 'hub:server:start',
  serverStop: 'hub:server:stop',
  serverStatus: 'hub:server:status',
  serverConnectionInfo: 'hub:server:connection-info',
  logsRecent: 'hub:logs:recent',
  logsOpenFolder: 'hub:logs:open-folder',
  settingsGet: 'hub:settings:get',
  settingsSet: 'hub:settings:set',
  dataKeyStatus: 'hub:data-key:status',
  /** The one push channel, main → window: every hub event travels on it. */
  push: 'hub:push',
} as const
export type InvokeChannel = Exclude<
  (typeof IpcChannel)[keyof typeof IpcChannel],
  typeof IpcChannel.push
>

export type ServerState = 'stopped' | 'starting' | 'running' | 'stopping' | 'error'

export interface ServerStatus {
  state: ServerState
  host: string
  port: number
  provider: 'simulated' | 'baileys'
  /** `http://host:port/` while running. */
  url?: string
  clients: number
  sessions: {
    total: number
    pending: number
    qr_ready: number
    authenticated: number
    disconnected: number
  }
  /**
   * Linked accounts whose connection is degraded (WhatsApp went silent on it): how many, and the
   * most recently degraded few (newest first) for the tray's menu.
   */
  degraded: { count: number; accounts: DegradedAccount[] }
  /** Why the server is in the `error` state, in words a person can act on. */
  error?: { code: string; message: string }
}

export interface DegradedAccount {
  session_id: string
  /** The WhatsApp account's name. */
  name?: string
  /** Why, in the hub's words (`health_reason`). */
  reason: string
}

export interface ConnectionInfo {
  url: string
  token: string
  /** `url?token=...`, for a browser on this machine. */
  accessUrl: string
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'

export interface LogEntry {
  time: string
  level: LogLevel
  message: string
  fields?: Record<string, unknown>
}

export interface Settings {
  port: number
  host: string
  provider: 'simulated' | 'baileys'
  /** Closing the window hides it to the tray (true) or quits the app (false). */
  closeToTray: boolean
  /** Desktop notifications when an account is linked, logged out, replaced, degraded or failed. */
  notifications: boolean
}

/**
 * How the key that seals linked accounts' credentials, sessions and the access token is kept on
 * this computer. Fixed for the app's run: it is settled at start-up, before the server starts.
 */
export interface DataKeyStatus {
  /**
   * `os`: wrapped by the OS keystore (Keychain, DPAPI, libsecret/KWallet). `basic_text`: Linux
   * without a keyring, wrapped with Chromium's fixed password: readable by anyone who can read the
   * file. `none`: the OS offered no encryption; the file's permissions are its only protection.
   */
  protection: 'os' | 'basic_text' | 'none'
  /** Linux: the secret store Electron selected (`gnome_libsecret`, `kwallet5`, `basic_text`, ...). */
  backend?: string
  /**
   * The previous key could not be unlocked and the user chose a new one this start: accounts
   * linked before must be linked again. The old key's file is kept under this name.
   */
  unreadableKeptAs?: string
}

export type PushMessage =
  | { kind: 'status'; status: ServerStatus }
  | { kind: 'log'; entry: LogEntry }
  /** Show this account: a notification or the tray's menu asked for it. */
  | { kind: 'select-session'; sessionId: string }

export type Unsubscribe = () => void

export interface DesktopApi {
  server: {
    start(): Promise<ServerStatus>
    stop(): Promise<ServerStatus>
    status(): Promise<ServerStatus>
    onStatus(listener: (status: ServerStatus) => void): Unsubscribe
    /** Null while the server is not running. */
    connectionInfo(): Promise<ConnectionInfo | null>
  }
  logs: {
    recent(limit?: number): Promise<LogEntry[]>
    onEntry(listener: (entry: LogEntry) => void): Unsubscribe
    openFolder(): Promise<void>
  }
  settings: {
    get(): Promise<Settings>
    set(patch: Partial<Settings>): Promise<Settings>
  }
  sessions: {
    /**
     * Main asks the window to show an account (a notification or the tray was clicked). One asked
     * for while the page was still starting is handed to the first listener.
     */
    onSelect(listener: (sessionId: string) => void): Unsubscribe
  }
  dataKey: {
    status(): Promise<DataKeyStatus>
  }
}
