import type { LinkedUser } from '../../server/protocol'
import type { SessionSink, WhatsAppProvider } from '../../server/providers/provider'

/**
 * A provider a test plays by hand: `link` issues one QR, then the test reports what WhatsApp does
 * through the session's sink (linked, dropped, silent, logged out...). `resume` links again the
 * account a session had, as a real provider does after a restart.
 */
export function scriptedProvider() {
  const sinks = new Map<string, SessionSink>()
  const users = new Map<string, LinkedUser>()
  const provider: WhatsAppProvider = {
    name: 'simulated',
    supportsPairingCode: false,
    async link(session) {
      sinks.set(session.id, session.sink)
      session.sink.qr({ data: `qr-${session.id}`, ttlMs: 60_000, attempt: 1, attemptsMax: 1 })
    },
    async resume(session) {
      sinks.set(session.id, session.sink)
      const user = users.get(session.id)
      if (user) await session.sink.authenticated(user)
    },
    inspect: async () => undefined,
    logout: async () => undefined,
    close: async () => undefined,
    sendMessage: async () => {
      throw new Error('the scripted provider sends nothing')
    },
    shutdown: async () => undefined,
  }
  const sink = (sessionId: string): SessionSink => {
    const found = sinks.get(sessionId)
    if (!found) throw new Error(`no session ${sessionId} was linked or resumed`)
    return found
  }
  return {
    provider,
    /** The phone scanned: the account is linked. */
    link: (sessionId: string, user: LinkedUser) => {
      users.set(sessionId, user)
      return sink(sessionId).authenticated(user)
    },
    sink,
  }
}
