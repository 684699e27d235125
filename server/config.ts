import { hostname } from 'node:os'
import { resolve } from 'node:path'
import { z } from 'zod'
import { PROVIDER_NAMES, type ProviderName } from './protocol'
import { parseKey } from './store/data-key'

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

export interface Config {
  port: number
  host: string
  debug: boolean
  /** Fixed access token; when absent the hub makes one and keeps it in `dataDir`. */
  secretKey: string | undefined
  dataDir: string
  provider: ProviderName
  qrTtlFirstMs: number
  qrTtlMs: number
  qrMax: number
  sessionIdleMs: number
  logLevel: LogLevel
  rateLimitPerS: number
  rateLimitBurst: number
  sendRatePerS: number
  sendBurst: number
  sendQueueMax: number
  /** Sessions the hub holds at most (linked or not). */
  maxSessions: number
  /** Links one connection may have waiting for a scan at once. */
  maxPendingPerClient: number
  /** DATA_KEY: seals everything stored; when absent a key file in `dataDir` is used. */
  dataKey: Buffer | undefined
  /** DATA_KEY_PREVIOUS: older keys still accepted for reading while a rotation finishes. */
  dataKeyPrevious: Buffer[]
  /** DATA_KEY_NEW: the key `npm run rotate-key` moves to (the hub itself ignores it). */
  dataKeyNew: Buffer | undefined
  /** A linked account silent this long while open is degraded; twice as long, reconnected. */
  healthSilenceMs: number
  /** Messages sent per account kept for WhatsApp's retry requests (Baileys `getMessage`). */
  sentMessagesMax: number
  /** How long a sent message is kept for retry requests. */
  sentMessagesMaxAgeMs: number
  /**
   * Decryption failures from one peer within `decryptFailuresWindowMs` after which the encryption
   * sessions with that peer are dropped, so they are negotiated anew (0: never).
   */
  decryptFailuresReset: number
  decryptFailuresWindowMs: number
  /** REDIS_URL: run as one hub of a fleet on this Redis; unset, one process with files. */
  redisUrl: string | undefined
  /** This hub's name in the fleet (default: host name and port). */
  instanceId: string
  /** How long a session's lease lasts without renewal (renewed every third of it). */
  leaseTtlMs: number
  /** How long a command forwarded to another hub may take. */
  forwardTimeoutMs: number
  /** Commands forwarded to other hubs waiting for an answer at once; more get `unavailable`. */
  forwardsWaitingMax: number
  /** Store writes waiting for Redis at once (an outage); more are refused. */
  storeWritesWaitingMax: number
  /** QR images waiting for the render thread; more are rendered in the main thread. */
  qrRendersWaitingMax: number
  /** Clients the headless server runs through a private hub before it listens (0: none). */
  warmUpClients: number
  /** Baileys: senders whose other address (phone number or LID) is looked up at once. */
  inboxLookupsMax: number
  /** Origins browsers may use (HTTP CORS and Socket.IO), or every origin. */
  corsOrigins: '*' | string[]
  /** What the hub may hold for one client that does not read; over it the client is cut off. */
  maxClientBufferBytes: number
  /** Connections that have not shown the token yet; new ones over it are refused. */
  maxUnauthenticated: number
  /** How long a new connection may take to show the token. */
  connectTimeoutMs: number
  /** Failed token attempts per address per minute before it is refused for a minute. */
  authFailuresPerMin: number
  /** Addresses whose failures are remembered; the oldest go first. */
  authAddressesMax: number
  httpHeadersTimeoutMs: number
  httpRequestTimeoutMs: number
  httpKeepAliveTimeoutMs: number
  httpIdleTimeoutMs: number
}

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(message)
    this.name = 'ConfigError'
  }
}

const integer = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max))

const positive = z
  .string()
  .trim()
  .regex(/^\d+(\.\d+)?$/, 'must be a positive number')
  .transform(Number)
  .pipe(z.number().positive())

const KEY_HINT = 'must be 32 bytes in base64 (make one with: openssl rand -base64 32)'

const key = z.string().transform((value, context) => {
  const parsed = parseKey(value)
  if (!parsed) context.addIssue({ code: 'custom', message: KEY_HINT })
  return parsed ?? Buffer.alloc(0)
})

const keys = z.string().transform((value, context) =>
  value
    .split(',')
    .filter((part) => part.trim() !== '')
    .map((part) => {
      const parsed = parseKey(part)
      if (!parsed) context.addIssue({ code: 'custom', message: `each key ${KEY_HINT}` })
      return parsed ?? Buffer.alloc(0)
    }),
)
/** `scheme://host[:port]` as browsers send it in `Origin`; a trailing slash is forgiven. */
const ORIGIN_PATTERN = /^[a-z][a-z0-9+.-]*:\/\/[^/\s,]+$/

const origins = z
  .string()
  .trim()
  .transform((value, context) => {
    if (value === '*') return '*' as const
    const list = value
      .split(',')
      .map((origin) => origin.trim().replace(/\/$/, '').toLowerCase())
      .filter(Boolean)
    const bad = list.find((origin) => !ORIGIN_PATTERN.test(origin))
    if (bad !== undefined || list.length === 0) {
      context.addIssue({
        code: 'custom',
        message: `must be * or a comma list of origins like https://app.example.com${bad ? ` ("${bad}" is not one)` : ''}`,
      })
      return z.NEVER
    }
    return list
  })

const boolean = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.enum(['1', '0', 'true', 'false', 'yes', 'no', 'on', 'off', '']))
  .transform((value) => ['1', 'true', 'yes', 'on'].includes(value))

/** Every variable the hub reads, with its parser and default. */
const variables = {
  WS_PORT: { key: 'port', schema: integer(0, 65535), fallback: '5001' },
  WS_HOST: { key: 'host', schema: z.string().trim().min(1), fallback: '0.0.0.0' },
  DEBUG: { key: 'debug', schema: boolean, fallback: 'false' },
  SECRET_KEY: {
    key: 'secretKey',
    schema: z
      .string()
      .min(16, 'must be at least 16 characters')
      .max(512)
      .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces'),
    fallback: undefined,
  },
  DATA_DIR: {
    key: 'dataDir',
    schema: z
      .string()
      .min(1)
      .transform((p) => resolve(p)),
    fallback: './data',
  },
  WA_PROVIDER: { key: 'provider', schema: z.enum(PROVIDER_NAMES), fallback: 'simulated' },
  QR_TTL_FIRST_MS: { key: 'qrTtlFirstMs', schema: integer(100, 600_000), fallback: '60000' },
  QR_TTL_MS: { key: 'qrTtlMs', schema: integer(100, 600_000), fallback: '20000' },
  QR_MAX: { key: 'qrMax', schema: integer(1, 100), fallback: '6' },
  SESSION_IDLE_MS: { key: 'sessionIdleMs', schema: integer(100, 86_400_000), fallback: '300000' },
  LOG_LEVEL: { key: 'logLevel', schema: z.enum(LOG_LEVELS), fallback: undefined },
  RATE_LIMIT_PER_S: { key: 'rateLimitPerS', schema: positive, fallback: '20' },
  RATE_LIMIT_BURST: { key: 'rateLimitBurst', schema: integer(1, 100_000), fallback: '40' },
  SEND_RATE_PER_S: { key: 'sendRatePerS', schema: positive, fallback: '1' },
  SEND_BURST: { key: 'sendBurst', schema: integer(1, 1000), fallback: '3' },
  SEND_QUEUE_MAX: { key: 'sendQueueMax', schema: integer(0, 10_000), fallback: '20' },
  MAX_SESSIONS: { key: 'maxSessions', schema: integer(1, 1_000_000), fallback: '500' },
  MAX_PENDING_PER_CLIENT: {
    key: 'maxPendingPerClient',
    schema: integer(1, 10_000),
    fallback: '5',
  },
  HEALTH_SILENCE_MS: {
    key: 'healthSilenceMs',
    schema: integer(100, 3_600_000),
    fallback: '90000',
  },
  SENT_MESSAGES_MAX: { key: 'sentMessagesMax', schema: integer(1, 100_000), fallback: '500' },
  SENT_MESSAGES_MAX_AGE_MS: {
    key: 'sentMessagesMaxAgeMs',
    schema: integer(1000, 90 * 86_400_000),
    fallback: String(7 * 86_400_000),
  },
  DECRYPT_FAILURES_RESET: {
    key: 'decryptFailuresReset',
    schema: integer(0, 10_000),
    fallback: '5',
  },
  DECRYPT_FAILURES_WINDOW_MS: {
    key: 'decryptFailuresWindowMs',
    schema: integer(1000, 86_400_000),
    fallback: '600000',
  },
  REDIS_URL: {
    key: 'redisUrl',
    schema: z
      .string()
      .trim()
      .regex(/^rediss?:\/\/\S+$/, 'must be a redis:// or rediss:// URL'),
    fallback: undefined,
  },
  INSTANCE_ID: {
    key: 'instanceId',
    schema: z
      .string()
      .trim()
      .regex(/^[\x21-\x7e]{1,100}$/, 'must be 1-100 printable characters without spaces'),
    fallback: undefined,
  },
  LEASE_TTL_MS: { key: 'leaseTtlMs', schema: integer(1000, 600_000), fallback: '10000' },
  FORWARD_TIMEOUT_MS: { key: 'forwardTimeoutMs', schema: integer(100, 120_000), fallback: '5000' },
  FORWARDS_WAITING_MAX: {
    key: 'forwardsWaitingMax',
    schema: integer(1, 1_000_000),
    fallback: '10000',
  },
  STORE_WRITES_WAITING_MAX: {
    key: 'storeWritesWaitingMax',
    schema: integer(1, 1_000_000),
    fallback: '10000',
  },
  QR_RENDERS_WAITING_MAX: {
    key: 'qrRendersWaitingMax',
    schema: integer(1, 1_000_000),
    fallback: '10000',
  },
  WARM_UP_CLIENTS: { key: 'warmUpClients', schema: integer(0, 10_000), fallback: '10' },
  INBOX_LOOKUPS_MAX: { key: 'inboxLookupsMax', schema: integer(0, 100_000), fallback: '100' },
  DATA_KEY: { key: 'dataKey', schema: key, fallback: undefined },
  DATA_KEY_PREVIOUS: { key: 'dataKeyPrevious', schema: keys, fallback: '' },
  DATA_KEY_NEW: { key: 'dataKeyNew', schema: key, fallback: undefined },
  CORS_ORIGINS: { key: 'corsOrigins', schema: origins, fallback: '*' },
  MAX_CLIENT_BUFFER_BYTES: {
    key: 'maxClientBufferBytes',
    schema: integer(65_536, 1_073_741_824),
    fallback: '4194304',
  },
  MAX_UNAUTHENTICATED: {
    key: 'maxUnauthenticated',
    schema: integer(1, 1_000_000),
    fallback: '1000',
  },
  CONNECT_TIMEOUT_MS: { key: 'connectTimeoutMs', schema: integer(100, 120_000), fallback: '10000' },
  AUTH_FAILURES_PER_MIN: { key: 'authFailuresPerMin', schema: integer(1, 100_000), fallback: '20' },
  AUTH_ADDRESSES_MAX: {
    key: 'authAddressesMax',
    schema: integer(1, 10_000_000),
    fallback: '10000',
  },
  HTTP_HEADERS_TIMEOUT_MS: {
    key: 'httpHeadersTimeoutMs',
    schema: integer(100, 600_000),
    fallback: '10000',
  },
  HTTP_REQUEST_TIMEOUT_MS: {
    key: 'httpRequestTimeoutMs',
    schema: integer(100, 3_600_000),
    fallback: '30000',
  },
  HTTP_KEEP_ALIVE_TIMEOUT_MS: {
    key: 'httpKeepAliveTimeoutMs',
    schema: integer(100, 600_000),
    fallback: '5000',
  },
  HTTP_IDLE_TIMEOUT_MS: {
    key: 'httpIdleTimeoutMs',
    schema: integer(100, 3_600_000),
    fallback: '60000',
  },
} as const

const SECRET_VARIABLES = new Set([
  'SECRET_KEY',
  'DATA_KEY',
  'DATA_KEY_PREVIOUS',
  'DATA_KEY_NEW',
  'REDIS_URL',
])

export type EnvVariable = keyof typeof variables
export const ENV_VARIABLES = Object.keys(variables) as EnvVariable[]

/**
 * Parses the environment once into a typed Config. A bad value throws a ConfigError naming the
 * variable, so start-up stops with a message a person can act on.
 */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  overrides: Partial<Config> = {},
): Config {
  const parsed: Record<string, unknown> = {}
  for (const [name, spec] of Object.entries(variables)) {
    const raw = env[name] === undefined || env[name] === '' ? spec.fallback : env[name]
    if (raw === undefined) {
      parsed[spec.key] = undefined
      continue
    }
    const result = (spec.schema as z.ZodType).safeParse(raw)
    if (!result.success) {
      const reason = result.error.issues[0]?.message ?? 'is invalid'
      // Secrets are never echoed: the message ends up in logs and terminals.
      const shown = SECRET_VARIABLES.has(name) ? name : `${name}=${JSON.stringify(raw)}`
      throw new ConfigError(name, `${shown} is invalid: ${reason}`)
    }
    parsed[spec.key] = result.data
  }
  const debug = parsed.debug as boolean
  parsed.logLevel ??= debug ? 'debug' : 'info'
  // Port 0 picks a free port, so two hubs of one host could share "host:0": the pid tells them apart.
  parsed.instanceId ??= `${hostname()}:${(parsed.port as number) || process.pid}`
  const config = { ...(parsed as unknown as Config), ...overrides }
  if (config.redisUrl) requireForFleet(config)
  // Node refuses a server whose headers may take longer than the whole request.
  if (config.httpRequestTimeoutMs < config.httpHeadersTimeoutMs) {
    throw new ConfigError(
      'HTTP_REQUEST_TIMEOUT_MS',
      `HTTP_REQUEST_TIMEOUT_MS=${config.httpRequestTimeoutMs} is invalid: must be at least HTTP_HEADERS_TIMEOUT_MS (${config.httpHeadersTimeoutMs})`,
    )
  }
  return config
}

/** Every hub of a fleet must accept the same token and open the same sealed data. */
function requireForFleet(config: Config): void {
  if (!config.secretKey) {
    throw new ConfigError(
      'SECRET_KEY',
      'SECRET_KEY must be set with REDIS_URL: every hub of a fleet must accept the same access token',
    )
  }
  if (!config.dataKey) {
    throw new ConfigError(
      'DATA_KEY',
      'DATA_KEY must be set with REDIS_URL: every hub of a fleet seals and opens the same data',
    )
  }
}

/** The limits the hub enforces, by variable name, as `/metrics` shows them. */
export function configuredLimits(config: Config): Record<string, number> {
  return {
    RATE_LIMIT_PER_S: config.rateLimitPerS,
    RATE_LIMIT_BURST: config.rateLimitBurst,
    MAX_CLIENT_BUFFER_BYTES: config.maxClientBufferBytes,
    MAX_UNAUTHENTICATED: config.maxUnauthenticated,
    CONNECT_TIMEOUT_MS: config.connectTimeoutMs,
    AUTH_FAILURES_PER_MIN: config.authFailuresPerMin,
    AUTH_ADDRESSES_MAX: config.authAddressesMax,
    HTTP_HEADERS_TIMEOUT_MS: config.httpHeadersTimeoutMs,
    HTTP_REQUEST_TIMEOUT_MS: config.httpRequestTimeoutMs,
    HTTP_KEEP_ALIVE_TIMEOUT_MS: config.httpKeepAliveTimeoutMs,
    HTTP_IDLE_TIMEOUT_MS: config.httpIdleTimeoutMs,
    MAX_SESSIONS: config.maxSessions,
    MAX_PENDING_PER_CLIENT: config.maxPendingPerClient,
    SEND_QUEUE_MAX: config.sendQueueMax,
    HEALTH_SILENCE_MS: config.healthSilenceMs,
    SENT_MESSAGES_MAX: config.sentMessagesMax,
    SENT_MESSAGES_MAX_AGE_MS: config.sentMessagesMaxAgeMs,
    DECRYPT_FAILURES_RESET: config.decryptFailuresReset,
    DECRYPT_FAILURES_WINDOW_MS: config.decryptFailuresWindowMs,
    LEASE_TTL_MS: config.leaseTtlMs,
    FORWARD_TIMEOUT_MS: config.forwardTimeoutMs,
    FORWARDS_WAITING_MAX: config.forwardsWaitingMax,
    STORE_WRITES_WAITING_MAX: config.storeWritesWaitingMax,
    QR_RENDERS_WAITING_MAX: config.qrRendersWaitingMax,
    INBOX_LOOKUPS_MAX: config.inboxLookupsMax,
  }
}
