import type {
  DisconnectReason,
  ErrorEvent,
  PairingCodeEvent,
  ProviderName,
  QrCodeEvent,
  ServerEvents,
  StatusEvent,
} from '../../../server/protocol'

export type Connection =
  | { kind: 'no_token' }
  | { kind: 'connecting' }
  | { kind: 'connected' }
  | { kind: 'reconnecting'; attempt: number }
  | { kind: 'offline' }
  | { kind: 'unauthorized' }

export interface SessionView {
  id: string
  status: StatusEvent
  qr?: QrCodeEvent
  pairing?: PairingCodeEvent
  /** When the pairing code arrived (the protocol gives only its expiry), for the countdown. */
  pairingReceivedAt?: string
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'

export interface ActivityEntry {
  id: number
  time: string
  level: LogLevel
  message: string
  sessionId?: string
  /** `hub`: what this client saw on the socket; `app`: the desktop app's own log lines. */
  source: 'hub' | 'app'
}

export interface HubState {
  connection: Connection
  provider?: ProviderName
  serverVersion?: string
  sessions: Record<string, SessionView>
  /** Session ids, oldest first. */
  order: string[]
  selected?: string
  lastError?: ErrorEvent
  log: ActivityEntry[]
  nextLogId: number
}

export const LOG_LIMIT = 1000

export type ServerEventName = keyof ServerEvents
export type ServerEventMessage = {
  [E in ServerEventName]: { name: E; payload: ServerEvents[E] }
}[ServerEventName]

export type HubAction =
  | { type: 'connection'; connection: Connection }
  | { type: 'server_event'; event: ServerEventMessage }
  | { type: 'sessions_listed'; sessions: StatusEvent[] }
  | { type: 'select'; sessionId: string }
  | { type: 'log'; entry: Omit<ActivityEntry, 'id'> }
  | { type: 'clear_log' }
  | { type: 'dismiss_error' }

export const initialHubState: HubState = {
  connection: { kind: 'connecting' },
  sessions: {},
  order: [],
  log: [],
  nextLogId: 1,
}

function baseStatus(id: string, status: StatusEvent['status'] = 'pending'): StatusEvent {
  return {
    type: 'status',
    session_id: id,
    status,
    authenticated: status === 'authenticated',
    reconnecting: false,
    health: 'ok',
    message: '',
    updated_at: new Date().toISOString(),
  }
}

function withSession(
  state: HubState,
  id: string,
  update: (session: SessionView) => SessionView,
): HubState {
  const existing = state.sessions[id] ?? { id, status: baseStatus(id) }
  const order = state.sessions[id] ? state.order : [...state.order, id]
  // With nothing selected, the first session that shows up is the one on screen.
  const selected = state.selected ?? id
  return { ...state, order, selected, sessions: { ...state.sessions, [id]: update(existing) } }
}

function appendLog(state: HubState, entry: Omit<ActivityEntry, 'id'>): HubState {
  const log = [...state.log, { ...entry, id: state.nextLogId }]
  return {
    ...state,
    log: log.length > LOG_LIMIT ? log.slice(log.length - LOG_LIMIT) : log,
    nextLogId: state.nextLogId + 1,
  }
}

const hubLog = (
  level: LogLevel,
  message: string,
  sessionId?: string,
): Omit<ActivityEntry, 'id'> => ({
  time: new Date().toISOString(),
  level,
  message,
  source: 'hub',
  ...(sessionId ? { sessionId } : {}),
})

/** Applies one server event. Every event of the protocol moves the UI to the matching state. */
function applyEvent(state: HubState, event: ServerEventMessage): HubState {
  switch (event.name) {
    case 'connected': {
      const { provider, server_version } = event.payload
      return appendLog(
        { ...state, provider, serverVersion: server_version },
        hubLog('info', `Connected to WA Link Hub ${server_version} (${provider})`),
      )
    }
    case 'qr_code': {
      const qr = event.payload
      const next = withSession(state, qr.session_id, (session) => ({
        ...session,
        qr,
        pairing: undefined,
        status:
          session.status.status === 'qr_ready'
            ? session.status
            : { ...session.status, status: 'qr_ready', authenticated: false, reason: undefined },
      }))
      return appendLog(
        next,
        hubLog('info', `QR ${qr.attempt} of ${qr.attempts_max} issued`, qr.session_id),
      )
    }
    case 'pairing_code': {
      const pairing = event.payload
      const next = withSession(state, pairing.session_id, (session) => ({
        ...session,
        pairing,
        pairingReceivedAt: new Date().toISOString(),
        qr: undefined,
        status: { ...session.status, status: 'qr_ready', authenticated: false },
      }))
      return appendLog(next, hubLog('info', 'Pairing code issued', pairing.session_id))
    }
    case 'authenticated': {
      const { session_id, user } = event.payload
      const next = withSession(state, session_id, (session) => ({
        ...session,
        qr: undefined,
        pairing: undefined,
        status: {
          ...session.status,
          status: 'authenticated',
          authenticated: true,
          reconnecting: false,
          user,
          reason: undefined,
        },
      }))
      return appendLog(next, hubLog('info', `Linked to ${user.name} (${user.id})`, session_id))
    }
    case 'disconnected': {
      const { session_id, reason, message } = event.payload
      const next = withSession(state, session_id, (session) => ({
        ...session,
        qr: undefined,
        pairing: undefined,
        status: {
          ...session.status,
          status: 'disconnected',
          authenticated: false,
          reconnecting: false,
          reason,
          user: undefined,
        },
      }))
      return appendLog(
        next,
        hubLog(
          reason === 'failed' ? 'error' : 'warn',
          `Disconnected (${reason}): ${message}`,
          session_id,
        ),
      )
    }
    case 'status': {
      const status = event.payload
      const previous = state.sessions[status.session_id]?.status
      const next = withSession(state, status.session_id, (session) => ({
        ...session,
        status,
        ...(status.status === 'qr_ready' ? {} : { qr: undefined, pairing: undefined }),
      }))
      const changed =
        previous?.status !== status.status || previous?.reconnecting !== status.reconnecting
      return changed
        ? appendLog(
            next,
            hubLog(
              status.reconnecting ? 'warn' : 'debug',
              `Status ${status.status}${status.reconnecting ? ' (reconnecting)' : ''}`,
              status.session_id,
            ),
          )
        : next
    }
    case 'message': {
      const message = event.payload
      return appendLog(
        state,
        hubLog('info', `Message from ${message.from}: ${message.text}`, message.session_id),
      )
    }
    case 'error': {
      const error = event.payload
      return appendLog(
        { ...state, lastError: error },
        hubLog('error', `${error.code}: ${error.message}`, error.session_id),
      )
    }
  }
}

export function hubReducer(state: HubState, action: HubAction): HubState {
  switch (action.type) {
    case 'connection':
      return { ...state, connection: action.connection }
    case 'server_event':
      return applyEvent(state, action.event)
    case 'sessions_listed': {
      // The hub's list is the truth after a (re)connect: sessions it no longer has are gone.
      const sessions: Record<string, SessionView> = {}
      for (const status of action.sessions) {
        const known = state.sessions[status.session_id]
        sessions[status.session_id] = {
          id: status.session_id,
          status,
          ...(status.status === 'qr_ready' && known?.qr ? { qr: known.qr } : {}),
          ...(status.status === 'qr_ready' && known?.pairing ? { pairing: known.pairing } : {}),
        }
      }
      const order = [
        ...state.order.filter((id) => sessions[id]),
        ...action.sessions.map((s) => s.session_id).filter((id) => !state.order.includes(id)),
      ]
      const selected = state.selected && sessions[state.selected] ? state.selected : order.at(-1)
      return { ...state, sessions, order, selected }
    }
    case 'select':
      return { ...state, selected: action.sessionId }
    case 'log':
      return appendLog(state, action.entry)
    case 'clear_log':
      return { ...state, log: [] }
    case 'dismiss_error':
      return { ...state, lastError: undefined }
  }
}

export type { DisconnectReason }
