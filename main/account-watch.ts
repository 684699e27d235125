import type { DegradedAccount } from '../preload/api'
import type { HubState } from '../server/hub'
import type { DisconnectReason, StatusEvent } from '../server/protocol'

/** Changes of an account a person wants to hear about, even with the window closed. */
export type AccountAlertKind = 'linked' | 'logged_out_remote' | 'replaced' | 'degraded' | 'failed'

export interface AccountAlert {
  kind: AccountAlertKind
  session_id: string
  /** The WhatsApp account's name, when the hub knew it. */
  name?: string
  /** Why the account is degraded, in the hub's words. */
  reason?: string
}

/** Endings of a link that need the person (a new scan); the others are their own doing. */
const ENDINGS: Partial<Record<DisconnectReason, AccountAlertKind>> = {
  logged_out_remote: 'logged_out_remote',
  replaced: 'replaced',
  failed: 'failed',
}

/** The fallback when the hub gave no reason for a degraded account. */
const SILENT = 'WhatsApp went silent'

interface Seen {
  status: StatusEvent['status']
  reason?: StatusEvent['reason']
  degraded: boolean
  name?: string
}

export interface AccountWatch {
  /** Follows the hub: a start forgets every session, a stop or a failed start too. */
  hubState(state: HubState): void
  /** Records one status of a session; returns the alert its change calls for, if any. */
  observe(event: StatusEvent): AccountAlert | undefined
  /** How many linked accounts are degraded, and the `listed` most recently degraded. */
  degraded(listed: number): { count: number; accounts: DegradedAccount[] }
  /** Sessions remembered. */
  readonly size: number
}

/**
 * Turns the hub's session events (every status of every session) into alerts, one per change, by
 * remembering each session's last status. What a starting hub reports for a session it had not
 * announced before is the state it restored (accounts linked before the app started), not a change.
 * It remembers at most `limit` sessions: the hub's own cap (MAX_SESSIONS), as each is forgotten
 * when the hub removes it (`inactive`, after it sat disconnected and unwatched); past it the least
 * recently changed goes, and comes back on its next status as a session seen for the first time.
 */
export function createAccountWatch(options: { limit: number }): AccountWatch {
  const seen = new Map<string, Seen>()
  /** The degraded subset of `seen`, in the order they became degraded. */
  const degraded = new Map<string, DegradedAccount>()
  let restoring = false

  const forget = (id: string) => {
    seen.delete(id)
    degraded.delete(id)
  }

  const alertFor = (event: StatusEvent, before: Seen | undefined, now: Seen) => {
    const alert = (kind: AccountAlertKind, reason?: string): AccountAlert => ({
      kind,
      session_id: event.session_id,
      name: now.name,
      reason,
    })
    if (!before && restoring) return undefined
    if (event.status === 'authenticated') {
      if (now.degraded && !before?.degraded) return alert('degraded', event.health_reason ?? SILENT)
      // A new link passes through pending or qr_ready, so only a session seen before can be one.
      if (before && before.status !== 'authenticated') return alert('linked')
      return undefined
    }
    const ending = event.status === 'disconnected' && event.reason && ENDINGS[event.reason]
    if (!ending) return undefined
    if (before?.status === 'disconnected' && before.reason === event.reason) return undefined
    return alert(ending)
  }

  return {
    hubState(state) {
      // A starting hub restores its sessions anew; a stopped one (or one that failed) has none.
      if (state === 'starting' || state === 'stopped' || state === 'error') {
        seen.clear()
        degraded.clear()
      }
      restoring = state === 'starting'
    },

    observe(event) {
      const id = event.session_id
      const before = seen.get(id)
      if (event.status === 'disconnected' && event.reason === 'inactive') {
        forget(id) // the hub removed the session
        return undefined
      }
      const now: Seen = {
        status: event.status,
        reason: event.reason,
        degraded: event.status === 'authenticated' && event.health === 'degraded',
        // A link that ended keeps the name of the account it was, for the alert that says so.
        name: event.user?.name ?? (event.status === 'disconnected' ? before?.name : undefined),
      }
      // Re-inserted: the map's order is the order of last change, oldest first.
      seen.delete(id)
      seen.set(id, now)
      // Updated in place: this map's order stays the order in which accounts became degraded.
      if (now.degraded)
        degraded.set(id, { session_id: id, name: now.name, reason: event.health_reason ?? SILENT })
      else degraded.delete(id)
      for (const oldest of seen.keys()) {
        if (seen.size <= options.limit) break
        forget(oldest)
      }
      return alertFor(event, before, now)
    },

    degraded(listed) {
      const newestFirst = [...degraded.values()].reverse().slice(0, listed)
      return { count: degraded.size, accounts: newestFirst }
    },

    get size() {
      return seen.size
    },
  }
}
