/**
 * Wire protocol v1 of WA Link Hub: event names, payload schemas and their types.
 *
 * This file must stay free of Node imports: the renderer imports it too.
 */
import { z } from 'zod'

export const PROTOCOL_VERSION = 1

/** Events a client sends to the hub. */
export const ClientEvent = {
  getQr: 'get_qr',
  getStatus: 'get_status',
  disconnectWhatsapp: 'disconnect_whatsapp',
  subscribe: 'subscribe',
  listSessions: 'list_sessions',
  sendMessage: 'send_message',
  getTimeline: 'get_timeline',
} as const
export type ClientEventName = (typeof ClientEvent)[keyof typeof ClientEvent]

/** Events the hub sends to clients. Every payload carries `type` equal to the event name. */
export const ServerEvent = {
  connected: 'connected',
  qrCode: 'qr_code',
  pairingCode: 'pairing_code',
  authenticated: 'authenticated',
  disconnected: 'disconnected',
  status: 'status',
  message: 'message',
  error: 'error',
} as const
export type ServerEventName = (typeof ServerEvent)[keyof typeof ServerEvent]

export const ERROR_CODES = [
  'unauthorized',
  'invalid_payload',
  'unknown_session',
  'rate_limited',
  'not_authenticated',
  'provider_error',
  'qr_expired',
  'limit_reached',
  'unavailable',
  'internal',
] as const
export type ErrorCode = (typeof ERROR_CODES)[number]

export const SESSION_STATUSES = ['pending', 'qr_ready', 'authenticated', 'disconnected'] as const
export type SessionStatus = (typeof SESSION_STATUSES)[number]

/** Why a link ended. A transient drop is not a disconnect (it is `status.reconnecting`). */
export const DISCONNECT_REASONS = [
  'logout',
  'logged_out_remote',
  'qr_timeout',
  'replaced',
  'inactive',
  'failed',
] as const
export type DisconnectReason = (typeof DISCONNECT_REASONS)[number]

/** Liveness of a linked account: `degraded` when WhatsApp went silent on an open connection. */
export const HEALTH_STATES = ['ok', 'degraded'] as const
export type HealthState = (typeof HEALTH_STATES)[number]

/** What happened to an account's connection, as its timeline records it. */
export const TIMELINE_EVENTS = [
  'linked',
  'connected',
  'dropped',
  'degraded',
  'recovered',
  'ended',
] as const
export type TimelineEventKind = (typeof TIMELINE_EVENTS)[number]

/** Connection events kept per account (the oldest go first). */
export const TIMELINE_MAX = 100

export const PROVIDER_NAMES = ['simulated', 'baileys'] as const
export type ProviderName = (typeof PROVIDER_NAMES)[number]

export const SESSION_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/
export const sessionIdSchema = z
  .string({ error: 'session_id must be a string' })
  .regex(SESSION_ID_PATTERN, 'session_id must be 1-64 characters of A-Z, a-z, 0-9, _ or -')

/**
 * International number as WhatsApp's pairing expects it: digits only, country code first. Spaces,
 * dashes, dots and parentheses, as people write numbers, are dropped, and so is a leading +.
 */
export const phoneNumberSchema = z
  .string({ error: 'phone_number must be a string' })
  .transform((value) => value.replace(/[\s().-]/g, ''))
  .pipe(
    z
      .string()
      .regex(
        /^\+?[1-9]\d{6,14}$/,
        'phone_number must be the full international number, country code first, 7-15 digits (like +34 600 111 222); not a local number starting with 0',
      ),
  )
  .transform((value) => value.replace(/^\+/, ''))

/** A recipient: digits (international format) or a WhatsApp JID. */
export const recipientSchema = z
  .string({ error: 'to must be a string' })
  .regex(
    /^(\+?[1-9]\d{6,14}|[0-9A-Za-z._:-]{1,64}@(s\.whatsapp\.net|c\.us|g\.us|lid))$/,
    'to must be a phone number in international format or a WhatsApp JID',
  )

/** `list_sessions` and `GET /api/sessions` answer in pages of `limit` sessions, ordered by id. */
export const LIST_SESSIONS_DEFAULT_LIMIT = 100
export const LIST_SESSIONS_MAX_LIMIT = 500

export const listSessionsQuerySchema = z.object(
  {
    limit: z
      .number({ error: 'limit must be a number' })
      .int('limit must be a whole number')
      .min(1, 'limit must be at least 1')
      .max(LIST_SESSIONS_MAX_LIMIT, `limit must be at most ${LIST_SESSIONS_MAX_LIMIT}`)
      .default(LIST_SESSIONS_DEFAULT_LIMIT),
    cursor: z
      .string({ error: 'cursor must be a string' })
      .regex(SESSION_ID_PATTERN, 'cursor must be a next_cursor from an earlier page')
      .optional(),
  },
  { error: 'payload must be a JSON object' },
)

const payload = <T extends z.ZodRawShape>(shape: T) =>
  z.object(shape, { error: 'payload must be a JSON object' })

export const clientPayloadSchemas = {
  [ClientEvent.getQr]: payload({
    session_id: sessionIdSchema.optional(),
    phone_number: phoneNumberSchema.optional(),
  }),
  [ClientEvent.getStatus]: payload({ session_id: sessionIdSchema }),
  [ClientEvent.disconnectWhatsapp]: payload({ session_id: sessionIdSchema }),
  [ClientEvent.subscribe]: payload({ session_id: sessionIdSchema }),
  [ClientEvent.listSessions]: listSessionsQuerySchema,
  [ClientEvent.getTimeline]: payload({ session_id: sessionIdSchema }),
  [ClientEvent.sendMessage]: payload({
    session_id: sessionIdSchema,
    to: recipientSchema,
    text: z
      .string({ error: 'text must be a string' })
      .min(1, 'text must not be empty')
      .max(4096, 'text must be at most 4096 characters'),
  }),
} satisfies Record<ClientEventName, z.ZodType>

export type ClientPayload<E extends ClientEventName> = z.output<(typeof clientPayloadSchemas)[E]>

export const simulateScanBodySchema = z.object(
  {
    qr_data: z.string({ error: 'qr_data must be a string' }).min(1).max(2048),
    name: z.string().min(1).max(100).optional(),
    phone: z
      .string()
      .regex(/^\+?[1-9]\d{6,14}$/, 'phone must be 7-15 digits in international format')
      .optional(),
  },
  { error: 'body must be a JSON object' },
)
export type SimulateScanBody = z.output<typeof simulateScanBodySchema>

export const simulateMessageBodySchema = z.object(
  {
    from: recipientSchema,
    text: z.string({ error: 'text must be a string' }).min(1).max(4096),
  },
  { error: 'body must be a JSON object' },
)
export type SimulateMessageBody = z.output<typeof simulateMessageBodySchema>

export const simulateSilenceBodySchema = z.object(
  { silent: z.boolean({ error: 'silent must be true or false' }).default(true) },
  { error: 'body must be a JSON object' },
)

export interface LinkedUser {
  /** Normalized JID, e.g. `34600000000@s.whatsapp.net`. */
  id: string
  name: string
}

/** The ack of `list_sessions`, and the body of `GET /api/sessions`. */
export interface SessionPage {
  sessions: StatusEvent[]
  /** Present when more sessions follow: pass it as `cursor` for the next page. */
  next_cursor?: string
}

export interface ErrorBody {
  code: ErrorCode
  message: string
}

export type Ack<T extends object = object> = ({ ok: true } & T) | { ok: false; error: ErrorBody }

export interface ConnectedEvent {
  type: 'connected'
  client_id: string
  server_version: string
  provider: ProviderName
  message: string
}

export interface QrCodeEvent {
  type: 'qr_code'
  session_id: string
  qr_data: string
  qr_image: string
  issued_at: string
  expires_at: string
  attempt: number
  attempts_max: number
  message: string
}

export interface PairingCodeEvent {
  type: 'pairing_code'
  session_id: string
  code: string
  expires_at: string
  message: string
}

export interface AuthenticatedEvent {
  type: 'authenticated'
  session_id: string
  user: LinkedUser
  message: string
}

export interface DisconnectedEvent {
  type: 'disconnected'
  session_id: string
  reason: DisconnectReason
  code?: number
  message: string
}

export interface StatusEvent {
  type: 'status'
  session_id: string
  status: SessionStatus
  authenticated: boolean
  reconnecting: boolean
  /** Liveness; `degraded` comes with `health_reason`. */
  health: HealthState
  health_reason?: string
  reason?: DisconnectReason
  user?: LinkedUser
  message: string
  updated_at: string
}

/** One connection event of an account, for `get_timeline`. */
export interface TimelineEntry {
  /** ISO 8601. */
  at: string
  event: TimelineEventKind
  /** WhatsApp's close code, when there was one. */
  code?: number
  /** What happened, in plain language. */
  text: string
  /** What the hub did about it: "reconnecting in 4 s", "logged out", "gave up", "none"... */
  action: string
}

export interface TimelineAck {
  session_id: string
  events: TimelineEntry[]
}

export type MessageKind =
  'text' | 'image' | 'video' | 'audio' | 'document' | 'sticker' | 'location' | 'contact' | 'other'

export interface MessageEvent {
  type: 'message'
  session_id: string
  id: string
  /** The chat: the sender's phone-number JID when known, else its LID; a group's JID in a group. */
  from: string
  /** The sender's phone-number JID (`<digits>@s.whatsapp.net`), when known. */
  from_pn?: string
  /** The sender's LID (`<id>@lid`, WhatsApp's number-less address), when known. */
  from_lid?: string
  text: string
  kind: MessageKind
  timestamp: string
}

export interface ErrorEvent {
  type: 'error'
  code: ErrorCode
  message: string
  event?: string
  session_id?: string
}

export interface ServerEvents {
  connected: ConnectedEvent
  qr_code: QrCodeEvent
  pairing_code: PairingCodeEvent
  authenticated: AuthenticatedEvent
  disconnected: DisconnectedEvent
  status: StatusEvent
  message: MessageEvent
  error: ErrorEvent
}

export interface StatsBody {
  uptime_s: number
  /** Connected clients: of the whole fleet, when there is one. */
  clients: number
  /** Sessions: of the whole fleet, when there is one. */
  sessions: { total: number } & Record<SessionStatus, number>
  provider: ProviderName
  /** With REDIS_URL: this hub, Redis as it sees it, and every live hub. */
  fleet?: {
    instance: string
    redis: 'ok' | 'degraded'
    instances: {
      instance: string
      url: string
      clients: number
      owned: number
      started_at: string
    }[]
  }
}

export interface HealthBody {
  /** `degraded`: a fleet hub that cannot reach Redis (it serves the sessions it owns). */
  status: 'ok' | 'degraded'
  version: string
  uptime_s: number
  redis?: 'ok' | 'degraded'
}

/** Human-readable explanations of disconnect reasons, for logs and default messages. */
export const DISCONNECT_MESSAGES: Record<DisconnectReason, string> = {
  logout: 'The link was logged out from this hub',
  logged_out_remote: 'The link was removed from the phone (Linked devices)',
  qr_timeout: 'No QR code was scanned in time',
  replaced: 'Another connection replaced this link',
  inactive: 'The session was removed after a period without subscribers',
  failed: 'WhatsApp refused the link',
}

/** Formats the first zod issue as one readable sentence. */
export function describeZodError(error: z.ZodError): string {
  const issue = error.issues[0]
  if (!issue) return 'invalid payload'
  const where = issue.path.length > 0 ? `${issue.path.join('.')}: ` : ''
  return `${where}${issue.message}`
}
