import type { BrowserWindow } from 'electron'
import { ipcMain, type WebContents } from 'electron'
import { z } from 'zod'
import {
  IpcChannel,
  type DataKeyStatus,
  type InvokeChannel,
  type LogEntry,
  type PushMessage,
  type Settings,
} from '../preload/api'
import type { Logger } from '../server/logger'
import type { HubHost } from './hub-host'
import type { SettingsStore } from './settings'

/**
 * Registers one IPC handler: calls from anything but our window are refused, arguments are
 * validated before the handler sees them. Every handler goes through here.
 */
export function createIpcRegistrar(options: {
  isTrustedSender: (sender: WebContents) => boolean
  logger: Logger
}) {
  const channels: InvokeChannel[] = []
  return {
    handle<S extends z.ZodTuple>(
      channel: InvokeChannel,
      args: S,
      handler: (...args: z.output<S>) => unknown,
    ) {
      channels.push(channel)
      ipcMain.handle(channel, async (event, ...raw: unknown[]) => {
        if (!options.isTrustedSender(event.sender)) {
          options.logger.warn('Refused an IPC call from an unknown sender', { channel })
          throw new Error('refused: the sender is not a WA Link Hub window')
        }
        const parsed = args.safeParse(raw)
        if (!parsed.success) {
          throw new Error(
            `invalid arguments for ${channel}: ${parsed.error.issues[0]?.message ?? 'bad input'}`,
          )
        }
        return handler(...(parsed.data as z.output<S>))
      })
    },
    dispose() {
      for (const channel of channels.splice(0)) ipcMain.removeHandler(channel)
    },
  }
}

/** Sends one push message to the window, if it still exists. */
export function push(window: BrowserWindow | undefined, message: PushMessage): void {
  if (!window || window.isDestroyed() || window.webContents.isDestroyed()) return
  window.webContents.send(IpcChannel.push, message)
}

/** The settings the server is built with. */
const SERVER_SETTINGS = new Set<keyof Settings>(['port', 'host', 'provider'])

export const noArgs = z.tuple([])
export const optionalLimit = z.tuple([z.number().int().min(1).max(1000).optional()])

export interface IpcDependencies {
  isTrustedSender: (sender: WebContents) => boolean
  logger: Logger
  host: HubHost
  settings: SettingsStore
  logs: { recent(limit?: number): LogEntry[] }
  openLogsFolder: () => Promise<void>
  dataKey: DataKeyStatus
}

/** Answers every channel of the DesktopApi contract. Returns a function that removes them. */
export function setupIpc(deps: IpcDependencies): () => void {
  const ipc = createIpcRegistrar(deps)
  const { host, settings } = deps
  ipc.handle(IpcChannel.serverStart, noArgs, () => host.start())
  ipc.handle(IpcChannel.serverStop, noArgs, () => host.stop())
  ipc.handle(IpcChannel.serverStatus, noArgs, () => host.status())
  ipc.handle(IpcChannel.serverConnectionInfo, noArgs, () => host.connectionInfo())
  ipc.handle(IpcChannel.logsRecent, optionalLimit, (limit) => deps.logs.recent(limit))
  ipc.handle(IpcChannel.logsOpenFolder, noArgs, () => deps.openLogsFolder())
  ipc.handle(IpcChannel.dataKeyStatus, noArgs, () => deps.dataKey)
  ipc.handle(IpcChannel.settingsGet, noArgs, () => settings.get())
  ipc.handle(IpcChannel.settingsSet, z.tuple([z.unknown()]), async (patch) => {
    const { settings: next, changed } = await settings.set(patch)
    // A new address or provider needs a new server; the others are read when they are used.
    if (changed.some((key) => SERVER_SETTINGS.has(key))) await host.restart()
    return next
  })
  return () => ipc.dispose()
}
