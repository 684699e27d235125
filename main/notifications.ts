import { Notification } from 'electron'
import type { AccountAlert } from './account-watch'

/**
 * Notifications kept referenced. Electron holds a Notification weakly: one the app drops can be
 * garbage-collected with its `click` listener while still on screen (electron/electron#16922). So
 * the last few stay referenced until clicked, whether or not `close` fired: on Windows `close` also
 * fires when a toast moves to the Action Center, where it can still be clicked.
 */
export const NOTIFICATIONS_KEPT = 20

/** The account as a person knows it: its WhatsApp name, and the hub's id for it. */
const accountOf = (alert: AccountAlert) =>
  alert.name ? `${alert.name} (${alert.session_id})` : alert.session_id

/** English: main has no translations (the window's language lives in the window). */
export function notificationText(alert: AccountAlert): { title: string; body: string } {
  const account = accountOf(alert)
  switch (alert.kind) {
    case 'linked':
      return { title: 'Account linked', body: `${account} is linked to WhatsApp.` }
    case 'logged_out_remote':
      return {
        title: 'Account logged out',
        body: `${account} was logged out from the phone (Linked devices). Link it again with a new QR code.`,
      }
    case 'replaced':
      return {
        title: 'Account replaced',
        body: `Another connection took over ${account}; the hub stopped using it. Link it again to use it here.`,
      }
    case 'degraded':
      return {
        title: 'Account degraded',
        body: `${account}: ${alert.reason ?? 'WhatsApp went silent'}. The hub reconnects it if it stays silent.`,
      }
    case 'failed':
      return {
        title: 'Account failed',
        body: `${account} could not be linked or kept linked. Link it again with a new QR code.`,
      }
  }
}

export interface Notifier {
  /** Shows the alert, unless notifications are off or the system has none. */
  notify(alert: AccountAlert): void
  /** Notifications still referenced (at most NOTIFICATIONS_KEPT). */
  readonly kept: number
}

/** Desktop notifications of account alerts; a click opens the window on the account. */
export function createNotifier(options: {
  enabled: () => boolean
  open: (sessionId: string) => void
  icon?: string
}): Notifier {
  const kept: Notification[] = []
  const release = (notification: Notification) => {
    const index = kept.indexOf(notification)
    if (index >= 0) kept.splice(index, 1)
  }
  return {
    notify(alert) {
      if (!options.enabled() || !Notification.isSupported()) return
      const notification = new Notification({
        ...notificationText(alert),
        // A new link is what the person just did; the rest is news.
        silent: alert.kind === 'linked',
        ...(options.icon ? { icon: options.icon } : {}),
      })
      notification.on('click', () => {
        release(notification)
        options.open(alert.session_id)
      })
      kept.push(notification)
      if (kept.length > NOTIFICATIONS_KEPT) kept.shift()
      notification.show()
    },
    get kept() {
      return kept.length
    },
  }
}
