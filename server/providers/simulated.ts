import { randomBytes, randomInt } from 'node:crypto'
import { z } from 'zod'
import type { LinkedUser } from '../protocol'
import { getJson, putJson, type Namespace } from '../store/store'
import { describeSilence, LivenessMonitor } from './liveness'
import {
  ProviderError,
  toJid,
  type IncomingMessage,
  type LinkOptions,
  type ProviderContext,
  type ProviderSession,
  type ScanResult,
  type Simulator,
  type WhatsAppProvider,
} from './provider'

const CREDS_KEY = 'simulated-creds'
const credsSchema = z.object({ user: z.object({ id: z.string(), name: z.string() }) })

/** WhatsApp's pairing codes use this alphabet (no 0/O, 1/I confusion). */
const PAIRING_ALPHABET = 'ABCDEFGHJKLMNPQRSTVWXYZ23456789'

interface LinkState {
  session: ProviderSession
  /** The QR and pairing codes this session was shown lately (bounded), oldest first. */
  issued: Set<string>
  current?: string
  expiresAt: number
  attempt: number
  timer?: NodeJS.Timeout
  user?: LinkedUser
  /** Watches a silenced connection; none while WhatsApp answers (no timer per healthy account). */
  liveness?: LivenessMonitor
}

/**
 * A WhatsApp stand-in that works offline. It mimics WhatsApp's linking: a first QR valid
 * `QR_TTL_FIRST_MS`, later ones `QR_TTL_MS`, at most `QR_MAX`, then `qr_timeout`. QR data has the
 * multi-device shape `ref,noisePublicKey,identityPublicKey,advSecret` with fresh random keys.
 * A "scan" comes from the simulate-scan HTTP endpoint.
 */
export function createSimulatedProvider({ config, logger }: ProviderContext): WhatsAppProvider {
  const states = new Map<string, LinkState>()
  // Codes remembered per session to tell "expired" from "never ours": about this link's and the last.
  const issuedKept = 2 * (config.qrMax + 1)

  const stop = (state: LinkState) => {
    clearTimeout(state.timer)
    state.timer = undefined
    state.current = undefined
    state.liveness?.stop()
    state.liveness = undefined
  }

  /** Silence that outlasts the second window: like a real provider, reconnect the account. */
  const reconnectSilent = (state: LinkState, silentForMs: number) => {
    state.liveness = undefined
    state.session.sink.reconnecting(true, {
      message: `${describeSilence(silentForMs)}; the connection was dropped`,
      retryInMs: 0,
    })
    const user = state.user
    if (user) void state.session.sink.authenticated(user).catch(() => undefined)
  }

  const issueQr = (state: LinkState) => {
    if (state.attempt >= config.qrMax) {
      stop(state)
      state.session.sink.disconnected('qr_timeout')
      return
    }
    state.attempt += 1
    const ttlMs = state.attempt === 1 ? config.qrTtlFirstMs : config.qrTtlMs
    const data = makeQrData()
    remember(state, data, issuedKept)
    state.current = data
    state.expiresAt = Date.now() + ttlMs
    state.timer = setTimeout(() => issueQr(state), ttlMs)
    state.timer.unref()
    state.session.sink.qr({ data, ttlMs, attempt: state.attempt, attemptsMax: config.qrMax })
  }

  const issuePairingCode = (state: LinkState) => {
    const ttlMs = config.qrTtlFirstMs
    const code = Array.from(
      { length: 8 },
      () => PAIRING_ALPHABET[randomInt(PAIRING_ALPHABET.length)],
    ).join('')
    remember(state, code, issuedKept)
    state.current = code
    state.expiresAt = Date.now() + ttlMs
    state.timer = setTimeout(() => {
      stop(state)
      state.session.sink.disconnected('qr_timeout')
    }, ttlMs)
    state.timer.unref()
    state.session.sink.pairingCode(code, ttlMs)
  }

  const requireLinked = (sessionId: string): LinkState => {
    const state = states.get(sessionId)
    if (!state?.user) throw new ProviderError('this session is not linked', 'not_authenticated')
    return state
  }

  const simulator: Simulator = {
    async scan(sessionId, qrData, who): Promise<ScanResult> {
      const state = states.get(sessionId)
      if (!state?.issued.has(qrData)) return 'mismatch'
      if (state.current !== qrData || Date.now() >= state.expiresAt) return 'expired'
      stop(state)
      const digits = who.phone?.replace(/^\+/, '') ?? `1555${randomInt(1_000_000, 9_999_999)}`
      const user: LinkedUser = { id: toJid(digits), name: who.name ?? 'Simulated phone' }
      // Like a real provider: the credentials are durable before the link is reported.
      await putJson(state.session.store, CREDS_KEY, { user })
      state.user = user
      logger.debug('Simulated phone scanned the QR', { session_id: sessionId })
      await state.session.sink.authenticated(user)
      return 'ok'
    },
    silence(sessionId, silent) {
      const state = requireLinked(sessionId)
      if (!silent) {
        state.liveness?.seen()
        state.liveness?.stop()
        state.liveness = undefined
        return
      }
      if (state.liveness) return
      const { sink } = state.session
      state.liveness = new LivenessMonitor(config.healthSilenceMs, {
        degraded: (ms) => sink.health('degraded', describeSilence(ms)),
        recovered: () => sink.health('ok'),
        dead: (ms) => reconnectSilent(state, ms),
      })
      state.liveness.start()
    },
    deliver(sessionId, from, text): IncomingMessage {
      const state = requireLinked(sessionId)
      const message: IncomingMessage = {
        id: `SIM${randomBytes(8).toString('hex').toUpperCase()}`,
        from: toJid(from),
        text,
        kind: 'text',
        timestamp: new Date(),
      }
      state.session.sink.message(message)
      return message
    },
  }

  return {
    name: 'simulated',
    supportsPairingCode: true,
    simulator,

    async link(session, options: LinkOptions) {
      const previous = states.get(session.id)
      if (previous) stop(previous)
      const state: LinkState = {
        session,
        issued: previous?.issued ?? new Set(),
        expiresAt: 0,
        attempt: 0,
      }
      states.set(session.id, state)
      if (options.phoneNumber) issuePairingCode(state)
      else issueQr(state)
    },

    async resume(session) {
      let user: LinkedUser
      try {
        user = credsSchema.parse(await getJson(session.store, CREDS_KEY)).user
      } catch (error) {
        logger.warn('Simulated credentials are missing or damaged', {
          session_id: session.id,
          error,
        })
        session.sink.disconnected('failed', {
          message: 'stored credentials are missing or damaged',
        })
        return
      }
      states.set(session.id, { session, issued: new Set(), expiresAt: 0, attempt: 0, user })
      await session.sink.authenticated(user)
    },

    inspect: (credentials) => readUser(credentials),

    async logout(sessionId) {
      const state = states.get(sessionId)
      if (state) stop(state)
      states.delete(sessionId)
    },

    async close(sessionId) {
      const state = states.get(sessionId)
      if (state) stop(state)
      states.delete(sessionId)
    },

    async sendMessage(sessionId, to) {
      requireLinked(sessionId)
      const messageId = `SIM${randomBytes(8).toString('hex').toUpperCase()}`
      logger.debug('Simulated message sent', { session_id: sessionId, to: toJid(to) })
      return { messageId }
    },

    async shutdown() {
      for (const state of states.values()) stop(state)
      states.clear()
    },
  }
}

async function readUser(credentials: Namespace): Promise<LinkedUser | undefined> {
  const parsed = credsSchema.safeParse(await getJson(credentials, CREDS_KEY))
  return parsed.success ? parsed.data.user : undefined
}

function remember(state: LinkState, code: string, kept: number): void {
  state.issued.add(code)
  if (state.issued.size > kept) {
    state.issued.delete(state.issued.values().next().value as string)
  }
}

/** `ref,noisePublicKey,identityPublicKey,advSecret`, the shape of a WhatsApp multi-device QR. */
function makeQrData(): string {
  // One draw from the random source, cut in four: a third of the cost of four draws (measured).
  const bytes = randomBytes(36 + 3 * 32)
  const part = (start: number, length: number) => bytes.toString('base64', start, start + length)
  return `2@${part(0, 36)},${part(36, 32)},${part(68, 32)},${part(100, 32)}`
}
