import { Menu, Tray, nativeImage, type MenuItemConstructorOptions } from 'electron'
import type { ServerStatus } from '../preload/api'

/** One icon each, resources/tray/<state>.png (scripts/icons.ts draws them). */
export const TRAY_STATES = ['stopped', 'running', 'linked', 'degraded', 'error'] as const
export type TrayState = (typeof TRAY_STATES)[number]

/** A menu item's label stays short enough for any tray menu. */
const LABEL_MAX = 80

export interface TrayActions {
  open(): void
  /** Opens the window on one account. */
  openAccount(sessionId: string): void
  start(): void
  stop(): void
  copyAccessUrl(): void
  openLogs(): void
  quit(): void
}

export function trayStateOf(status: ServerStatus): TrayState {
  if (status.state === 'error') return 'error'
  if (status.state !== 'running') return 'stopped'
  if (status.degraded.count > 0) return 'degraded'
  return status.sessions.authenticated > 0 ? 'linked' : 'running'
}

/** e.g. `WA Link Hub — running on :5001 · 3 clients · 2 linked (1 degraded)` */
export function trayTooltip(status: ServerStatus): string {
  switch (status.state) {
    case 'running': {
      const clients = `${status.clients} ${status.clients === 1 ? 'client' : 'clients'}`
      const degraded = status.degraded.count > 0 ? ` (${status.degraded.count} degraded)` : ''
      return `WA Link Hub — running on :${status.port} · ${clients} · ${status.sessions.authenticated} linked${degraded}`
    }
    case 'error':
      return `WA Link Hub — error: ${status.error?.message ?? 'the server failed'}`
    case 'starting':
      return 'WA Link Hub — starting…'
    case 'stopping':
      return 'WA Link Hub — stopping…'
    case 'stopped':
      return 'WA Link Hub — server stopped'
  }
}

export function trayMenuTemplate(
  status: ServerStatus,
  actions: TrayActions,
): MenuItemConstructorOptions[] {
  const running = status.state === 'running'
  const busy = status.state === 'starting' || status.state === 'stopping'
  return [
    { id: 'open', label: 'Open WA Link Hub', click: () => actions.open() },
    { type: 'separator' },
    ...degradedSection(status.degraded, actions),
    running
      ? { id: 'toggle', label: 'Stop server', enabled: !busy, click: () => actions.stop() }
      : { id: 'toggle', label: 'Start server', enabled: !busy, click: () => actions.start() },
    {
      id: 'copy-url',
      label: 'Copy access URL',
      enabled: running,
      click: () => actions.copyAccessUrl(),
    },
    { id: 'open-logs', label: 'Open logs folder', click: () => actions.openLogs() },
    { type: 'separator' },
    { id: 'quit', label: 'Quit', click: () => actions.quit() },
  ]
}

/** The degraded accounts, each opening the window on it; the ones not named open the window. */
function degradedSection(
  degraded: ServerStatus['degraded'],
  actions: TrayActions,
): MenuItemConstructorOptions[] {
  if (degraded.count === 0) return []
  const unnamed = degraded.count - degraded.accounts.length
  return [
    { id: 'degraded', label: `Degraded accounts (${degraded.count})`, enabled: false },
    ...degraded.accounts.map((account): MenuItemConstructorOptions => ({
      id: `degraded:${account.session_id}`,
      label: shorten(
        `${account.name ? `${account.name} (${account.session_id})` : account.session_id} — ${account.reason}`,
      ),
      click: () => actions.openAccount(account.session_id),
    })),
    ...(unnamed > 0
      ? [{ id: 'degraded:more', label: `${unnamed} more…`, click: () => actions.open() }]
      : []),
    { type: 'separator' },
  ]
}

function shorten(label: string): string {
  return label.length > LABEL_MAX ? `${label.slice(0, LABEL_MAX - 1)}…` : label
}

/** The status monitor in the system tray: icon, tooltip and menu follow the hub's events. */
export function createTray(options: {
  iconPath: (state: TrayState) => string
  actions: TrayActions
}) {
  let state: TrayState = 'stopped'
  const tray = new Tray(nativeImage.createFromPath(options.iconPath(state)))
  tray.on('click', () => options.actions.open())

  return {
    tray,
    update(status: ServerStatus) {
      const next = trayStateOf(status)
      if (next !== state) {
        state = next
        tray.setImage(nativeImage.createFromPath(options.iconPath(state)))
      }
      tray.setToolTip(trayTooltip(status))
      tray.setContextMenu(Menu.buildFromTemplate(trayMenuTemplate(status, options.actions)))
    },
    destroy: () => tray.destroy(),
  }
}
