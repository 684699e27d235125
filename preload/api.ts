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
  /** Why the server is in the `error` state, in words a person can act on. */
  error?: { code: string; message: string }
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
}

export type PushMessage =
  { kind: 'status'; status: ServerStatus } | { kind: 'log'; entry: LogEntry }

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
}
