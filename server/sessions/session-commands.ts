import type { SimulateScanBody, StatusEvent, TimelineEntry } from '../protocol'
import type { ScanResult } from '../providers/provider'
import type { Replay, SessionCounts, SessionManager } from './session-manager'

export type LinkAnswer = { status: StatusEvent; replay?: Replay }

/**
 * What clients ask of sessions, over Socket.IO and HTTP. One hub answers from its session
 * manager; in a fleet the router answers for sessions this hub owns and forwards the rest to
 * their owner. `join` puts the asking connection in the session's room, here, before anything is
 * emitted there.
 */
export interface SessionCommands {
  requestLink(
    sessionId: string | undefined,
    phoneNumber: string | undefined,
    join: (sessionId: string) => void,
    client?: string,
  ): Promise<LinkAnswer>
  status(sessionId: string): Promise<StatusEvent>
  subscribe(sessionId: string, join: (sessionId: string) => void): Promise<LinkAnswer>
  disconnect(sessionId: string): Promise<StatusEvent>
  sendMessage(sessionId: string, to: string, text: string): Promise<string>
  timeline(sessionId: string): Promise<TimelineEntry[]>
  list(): Promise<StatusEvent[]>
  counts(): Promise<SessionCounts & { total: number }>
  simulateScan(sessionId: string, body: SimulateScanBody): Promise<ScanResult | 'unsupported'>
  simulateMessage(
    sessionId: string,
    from: string,
    text: string,
  ): Promise<{ id: string } | 'unsupported'>
  simulateSilence(sessionId: string, silent: boolean): Promise<'ok' | 'unsupported'>
  /** A watching connection left the session's room. */
  touch(sessionId: string): void
  /** A connection left: its links waiting for a scan no longer count against it. */
  forgetClient(client: string): void
}

/** The commands answered by this hub's own session manager. */
export function localCommands(manager: SessionManager): SessionCommands {
  return {
    requestLink: (sessionId, phoneNumber, join, client) =>
      manager.requestLink(sessionId, phoneNumber, join, client),
    status: async (sessionId) => manager.status(sessionId),
    subscribe: async (sessionId, join) => manager.subscribe(sessionId, join),
    disconnect: (sessionId) => manager.disconnect(sessionId),
    sendMessage: (sessionId, to, text) => manager.sendMessage(sessionId, to, text),
    timeline: async (sessionId) => manager.timeline(sessionId),
    list: async () => manager.list(),
    counts: async () => ({ total: manager.size, ...manager.countByStatus() }),
    simulateScan: (sessionId, body) => manager.simulateScan(sessionId, body),
    async simulateMessage(sessionId, from, text) {
      const result = manager.simulateMessage(sessionId, from, text)
      return result === 'unsupported' ? result : { id: result.id }
    },
    simulateSilence: async (sessionId, silent) => manager.simulateSilence(sessionId, silent),
    touch: (sessionId) => manager.touch(sessionId),
    forgetClient: (client) => manager.forgetClient(client),
  }
}
