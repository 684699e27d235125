import type {
  DisconnectReason,
  ErrorBody,
  ErrorEvent,
  PairingCodeEvent,
  ProviderName,
  QrCodeEvent,
  ServerEvents,
  StatusEvent,
  TimelineEntry,
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
  /** Counts the `status` pushes (and re-lists) seen for this session: an open history reloads on each. */
  statusRevision: number
  timeline?: TimelineView
}

/** The account's connection history (`get_timeline`), as far as this page has loaded it. */
export interface TimelineView {
  /** The request whose answer is awaited or shown: an answer to an older one is dropped. */
  request: number
  loading: boolean
  /** The last loaded entries, oldest first; kept on screen while a refresh is under way. */
  events?: TimelineEntry[]
  error?: ErrorBody
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
  /** A request's failed ack, which the UI shows where the request was made. */
  | { type: 'request_failed'; event: string; error: ErrorBody }
  | { type: 'timeline_requested'; sessionId: string; request: number }
  | { type: 'timeline_loaded'; sessionId: string; request: number; events: TimelineEntry[] }
  | { type: 'timeline_failed'; sessionId: string; request: number; error: ErrorBody }

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
  const existing = state.sessions[id] ?? { id, status: baseStatus(id), statusRevision: 0 }
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
          health: 'ok',
          health_reason: undefined,
          reason,
          user: undefined,
          message,
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
      let next = withSession(state, status.session_id, (session) => ({
        ...session,
        status,
        statusRevision: session.statusRevision + 1,
        ...(status.status === 'qr_ready' ? {} : { qr: undefined, pairing: undefined }),
      }))
      if (previous?.status !== status.status || previous?.reconnecting !== status.reconnecting) {
        next = appendLog(
          next,
          hubLog(
            status.reconnecting ? 'warn' : 'debug',
            `Status ${status.status}${status.reconnecting ? ' (reconnecting)' : ''}`,
            status.session_id,
          ),
        )
      }
      if (status.health === 'degraded' && previous?.health !== 'degraded') {
        next = appendLog(
          next,
          hubLog(
            'warn',
            `Degraded: ${status.health_reason ?? 'no reason given'}`,
            status.session_id,
          ),
        )
      } else if (status.health === 'ok' && previous?.health === 'degraded') {
        next = appendLog(next, hubLog('info', 'Healthy again', status.session_id))
      }
      return next
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
          // A re-list may follow missed pushes (the hub was away): an open history reloads.
          statusRevision: (known?.statusRevision ?? 0) + 1,
          ...(status.status === 'qr_ready' && known?.qr ? { qr: known.qr } : {}),
          ...(status.status === 'qr_ready' && known?.pairing ? { pairing: known.pairing } : {}),
          ...(known?.timeline ? { timeline: known.timeline } : {}),
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
    case 'request_failed':
      return withoutEcho(state, action.event, action.error)
    case 'timeline_requested':
      return withTimeline(state, action.sessionId, (timeline) => ({
        request: action.request,
        loading: true,
        ...(timeline?.events ? { events: timeline.events } : {}),
      }))
    case 'timeline_loaded':
      return withTimeline(state, action.sessionId, (timeline) =>
        timeline?.request === action.request
          ? { request: action.request, loading: false, events: action.events }
          : timeline,
      )
    case 'timeline_failed':
      return withTimeline(
        withoutEcho(state, 'get_timeline', action.error),
        action.sessionId,
        (timeline) =>
          timeline?.request === action.request
            ? { request: action.request, loading: false, error: action.error }
            : timeline,
      )
  }
}

/**
 * The hub reports a failed request twice: an `error` event, then the ack. Where the UI shows the
 * ack's error beside what was asked, the event's copy of it need not stay on screen as well.
 */
function withoutEcho(state: HubState, event: string, error: ErrorBody): HubState {
  const shown = state.lastError
  return shown?.event === event && shown.code === error.code && shown.message === error.message
    ? { ...state, lastError: undefined }
    : state
}

/** Updates a known session's history; an answer about a session that has gone is dropped. */
function withTimeline(
  state: HubState,
  id: string,
  update: (timeline: TimelineView | undefined) => TimelineView | undefined,
): HubState {
  const session = state.sessions[id]
  if (!session) return state
  const timeline = update(session.timeline)
  if (timeline === session.timeline) return state
  return { ...state, sessions: { ...state.sessions, [id]: { ...session, timeline } } }
}

export type { DisconnectReason }
