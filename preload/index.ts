import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron'
import { IpcChannel, type DesktopApi, type PushMessage, type Unsubscribe } from './api'

/** Listens on the push channel for one kind of message; returns the way to stop. */
function onPush<K extends PushMessage['kind']>(
  kind: K,
  listener: (message: Extract<PushMessage, { kind: K }>) => void,
): Unsubscribe {
  const handler = (_event: IpcRendererEvent, message: PushMessage) => {
    if (message.kind === kind) listener(message as Extract<PushMessage, { kind: K }>)
  }
  ipcRenderer.on(IpcChannel.push, handler)
  return () => {
    ipcRenderer.removeListener(IpcChannel.push, handler)
  }
}

/**
 * Selections main sends for the page. A notification clicked while the window was closed opens a
 * new one, and main sends once the page has loaded; the page's listener may come a moment later
 * (React subscribes after its first render), so the latest selection waits for it.
 */
const selectListeners = new Set<(sessionId: string) => void>()
let unclaimedSelection: string | undefined
onPush('select-session', ({ sessionId }) => {
  if (selectListeners.size === 0) unclaimedSelection = sessionId
  for (const listener of selectListeners) listener(sessionId)
})

// One narrow verb per operation; the page never sees ipcRenderer itself.
const api: DesktopApi = {
  server: {
    start: () => ipcRenderer.invoke(IpcChannel.serverStart),
    stop: () => ipcRenderer.invoke(IpcChannel.serverStop),
    status: () => ipcRenderer.invoke(IpcChannel.serverStatus),
    onStatus: (listener) => onPush('status', (message) => listener(message.status)),
    connectionInfo: () => ipcRenderer.invoke(IpcChannel.serverConnectionInfo),
  },
  logs: {
    recent: (limit) => ipcRenderer.invoke(IpcChannel.logsRecent, limit),
    onEntry: (listener) => onPush('log', (message) => listener(message.entry)),
    openFolder: () => ipcRenderer.invoke(IpcChannel.logsOpenFolder),
  },
  settings: {
    get: () => ipcRenderer.invoke(IpcChannel.settingsGet),
    set: (patch) => ipcRenderer.invoke(IpcChannel.settingsSet, patch),
  },
  dataKey: {
    status: () => ipcRenderer.invoke(IpcChannel.dataKeyStatus),
  },
  sessions: {
    onSelect(listener) {
      selectListeners.add(listener)
      const waiting = unclaimedSelection
      unclaimedSelection = undefined
      if (waiting !== undefined) listener(waiting)
      return () => {
        selectListeners.delete(listener)
      }
    },
  },
}

contextBridge.exposeInMainWorld('hub', api)
