import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { loadConfig } from '../../server/config'
import type { LinkedUser } from '../../server/protocol'
import { describeSilence } from '../../server/providers/liveness'
import type {
  ProviderQr,
  ProviderSession,
  SessionSink,
  WhatsAppProvider,
} from '../../server/providers/provider'
import { createSimulatedProvider } from '../../server/providers/simulated'
import { putJson, utf8 } from '../../server/store/store'
import { MemoryNamespace } from '../helpers/memory-store'
import { recordingLogger } from '../helpers/logger'

const QR_MAX = 3
const config = loadConfig({
  QR_TTL_FIRST_MS: '60000',
  QR_TTL_MS: '20000',
  QR_MAX: String(QR_MAX),
  HEALTH_SILENCE_MS: '90000',
})
const phone = '34600000001'

/** Every call the provider makes on a session's sink, in order. */
function recorder() {
  const calls: { method: keyof SessionSink; args: unknown[] }[] = []
  const push =
    (method: keyof SessionSink) =>
    (...args: unknown[]) =>
      void calls.push({ method, args })
  const sink: SessionSink = {
    qr: push('qr'),
    pairingCode: push('pairingCode'),
    authenticated: async (user) => push('authenticated')(user),
    reconnecting: push('reconnecting'),
    health: push('health'),
    disconnected: push('disconnected'),
    message: push('message'),
  }
  return {
    calls,
    sink,
    methods: () => calls.map((call) => call.method),
    of: (method: keyof SessionSink) => calls.filter((c) => c.method === method).map((c) => c.args),
    qrs: () => calls.filter((c) => c.method === 'qr').map((c) => c.args[0] as ProviderQr),
    lastCode: () => calls.filter((c) => c.method === 'pairingCode').at(-1)!.args[0] as string,
  }
}

let provider: WhatsAppProvider
let log: ReturnType<typeof recordingLogger>

beforeEach(() => {
  vi.useFakeTimers()
  log = recordingLogger()
  provider = createSimulatedProvider({ config, logger: log.logger })
})
afterEach(async () => {
  await provider.shutdown()
  vi.useRealTimers()
})

function session(id: string) {
  const rec = recorder()
  const store = new MemoryNamespace()
  const s: ProviderSession = { id, store, sink: rec.sink }
  return { ...rec, session: s, store }
}

async function linked(id: string, who: { name?: string; phone?: string } = { phone }) {
  const s = session(id)
  await provider.link(s.session, {})
  expect(await provider.simulator!.scan(id, s.qrs()[0]!.data, who)).toBe('ok')
  return s
}

describe('simulated phone scanning a QR', () => {
  it('links a phone that gives no name or number as "Simulated phone" with a US test number', async () => {
    const s = await linked('anonymous', {})
    const user = s.of('authenticated')[0]![0] as LinkedUser
    expect(user.name).toBe('Simulated phone')
    expect(user.id).toMatch(/^1555\d{7}@s\.whatsapp\.net$/)
    expect(await provider.inspect(s.store)).toEqual(user)
  })

  it("shows QR text shaped like WhatsApp's: a 2@ reference and three 32-byte keys, new each rotation", async () => {
    const s = session('shape')
    await provider.link(s.session, {})
    await vi.advanceTimersByTimeAsync(60_000)
    const [first, second] = s.qrs().map((qr) => qr.data)
    for (const data of [first!, second!]) {
      const [ref, ...keys] = data.split(',')
      expect(ref).toMatch(/^2@[A-Za-z0-9+/]{48}$/)
      expect(keys.map((key) => Buffer.from(key, 'base64').length)).toEqual([32, 32, 32])
      // Each part is its own random draw: no two parts of one code are the same.
      expect(new Set([ref!.slice(2), ...keys]).size).toBe(4)
    }
    expect(second).not.toBe(first)
  })

  it('refuses a QR as expired once its time is up, even if the next QR is not shown yet', async () => {
    const late = session('late')
    await provider.link(late.session, {})
    const [qr] = late.qrs()
    // The clock reaches the expiry but the rotation timer has not run yet (a busy event loop).
    vi.setSystemTime(Date.now() + qr!.ttlMs)
    expect(await provider.simulator!.scan('late', qr!.data, { phone })).toBe('expired')
    expect(late.methods()).not.toContain('authenticated')

    const justInTime = session('just-in-time')
    await provider.link(justInTime.session, {})
    const [first] = justInTime.qrs()
    vi.setSystemTime(Date.now() + first!.ttlMs - 1)
    expect(await provider.simulator!.scan('just-in-time', first!.data, { phone })).toBe('ok')
  })

  it('answers mismatch for a session it is not linking, instead of failing', async () => {
    const s = session('real')
    await provider.link(s.session, {})
    const data = s.qrs()[0]!.data
    expect(await provider.simulator!.scan('nobody', data, { phone })).toBe('mismatch')
  })

  it('logs the scan at debug level with the session id', async () => {
    await linked('logged')
    const entry = log.entries.find((e) => e.level === 'debug' && /scann/i.test(e.message))
    expect(entry?.fields).toMatchObject({ session_id: 'logged' })
  })
})

describe('simulated pairing codes', () => {
  it('links the phone when the code is entered in time', async () => {
    const s = session('paired')
    await provider.link(s.session, { phoneNumber: phone })
    const [[code, ttlMs]] = s.of('pairingCode') as [[string, number]]
    expect(code).toMatch(/^[A-HJ-NP-TV-Z2-9]{8}$/)
    vi.advanceTimersByTime(ttlMs - 1)
    expect(await provider.simulator!.scan('paired', code, { phone })).toBe('ok')
    expect(s.methods()).toContain('authenticated')
  })

  it('ends the link with qr_timeout when the code is not entered in time', async () => {
    const s = session('unpaired')
    await provider.link(s.session, { phoneNumber: phone })
    const [[code, ttlMs]] = s.of('pairingCode') as [[string, number]]
    vi.advanceTimersByTime(ttlMs - 1)
    expect(s.methods()).not.toContain('disconnected')
    vi.advanceTimersByTime(1)
    expect(s.of('disconnected')).toEqual([['qr_timeout']])
    expect(await provider.simulator!.scan('unpaired', code, { phone })).toBe('expired')
  })

  it('remembers the last 2 × (QR_MAX + 1) codes shown to a session: older ones answer mismatch', async () => {
    // Enough for every code of this link and of the one before it, whatever their mode.
    const kept = 2 * (QR_MAX + 1)
    const s = session('relinked')
    const codes: string[] = []
    for (let i = 0; i < kept; i++) {
      await provider.link(s.session, { phoneNumber: phone })
      codes.push(s.lastCode())
    }
    expect(await provider.simulator!.scan('relinked', codes[0]!, { phone })).toBe('expired')
    await provider.link(s.session, { phoneNumber: phone })
    expect(await provider.simulator!.scan('relinked', codes[0]!, { phone })).toBe('mismatch')
    expect(await provider.simulator!.scan('relinked', codes[1]!, { phone })).toBe('expired')
  })
})

describe('simulated link lifecycle', () => {
  it('a new link of the session stops the QR rotation of the one before', async () => {
    const first = session('again')
    await provider.link(first.session, {})
    const second = session('again')
    await provider.link(second.session, {})
    vi.advanceTimersByTime(10 * config.qrTtlFirstMs)
    expect(first.methods()).toEqual(['qr'])
    expect(second.qrs().map((qr) => qr.attempt)).toEqual([1, 2, 3])
    expect(second.of('disconnected')).toEqual([['qr_timeout']])
  })

  it.each(['logout', 'close'] as const)(
    '%s stops a link waiting for a scan and forgets it',
    async (method) => {
      const s = session('ending')
      await provider.link(s.session, {})
      const data = s.qrs()[0]!.data
      await provider[method]('ending')
      vi.advanceTimersByTime(10 * config.qrTtlFirstMs)
      expect(s.methods()).toEqual(['qr'])
      expect(await provider.simulator!.scan('ending', data, { phone })).toBe('mismatch')
    },
  )

  it.each(['logout', 'close'] as const)(
    '%s of a linked session stops its sending; of an unknown session it does nothing',
    async (method) => {
      await linked('linked')
      await provider[method]('linked')
      await expect(provider.sendMessage('linked', phone, 'hi')).rejects.toMatchObject({
        code: 'not_authenticated',
      })
      await expect(provider[method]('never-seen')).resolves.toBeUndefined()
    },
  )

  it('close keeps the credentials: the session resumes as the same account', async () => {
    const s = await linked('durable')
    const user = s.of('authenticated')[0]![0]
    await provider.close('durable')
    const again = recorder()
    await provider.resume({ id: 'durable', store: s.store, sink: again.sink })
    expect(again.of('authenticated')).toEqual([[user]])
    await expect(provider.sendMessage('durable', phone, 'back')).resolves.toMatchObject({
      messageId: expect.any(String),
    })
  })

  it('shutdown stops every link and forgets every session', async () => {
    const waiting = session('waiting')
    await provider.link(waiting.session, {})
    await linked('sending')
    await provider.shutdown()
    vi.advanceTimersByTime(10 * config.qrTtlFirstMs)
    expect(waiting.methods()).toEqual(['qr'])
    await expect(provider.sendMessage('sending', phone, 'hi')).rejects.toMatchObject({
      code: 'not_authenticated',
    })
  })
})

describe('simulated resume after a restart', () => {
  it('reports the stored account as linked and can send for it', async () => {
    const store = new MemoryNamespace()
    const user = { id: `${phone}@s.whatsapp.net`, name: 'Stored' }
    await putJson(store, 'simulated-creds', { user })
    const rec = recorder()
    await provider.resume({ id: 'restarted', store, sink: rec.sink })
    expect(rec.calls).toEqual([{ method: 'authenticated', args: [user] }])
    await expect(provider.sendMessage('restarted', phone, 'hello')).resolves.toMatchObject({
      messageId: expect.any(String),
    })
  })

  it.each([
    ['missing', async () => undefined],
    ['damaged', async (store: MemoryNamespace) => store.write([['simulated-creds', utf8('{no')]])],
    ['incomplete', (store: MemoryNamespace) => putJson(store, 'simulated-creds', { user: {} })],
  ])('ends the link as failed when the credentials are %s, and warns', async (_kind, prepare) => {
    const store = new MemoryNamespace()
    await prepare(store)
    const rec = recorder()
    await provider.resume({ id: 'broken', store, sink: rec.sink })
    expect(rec.calls).toEqual([
      {
        method: 'disconnected',
        args: ['failed', { message: 'stored credentials are missing or damaged' }],
      },
    ])
    const warning = log.entries.find((e) => e.level === 'warn')
    expect(warning?.message).toMatch(/credentials/i)
    expect(warning?.fields).toMatchObject({ session_id: 'broken' })
    await expect(provider.sendMessage('broken', phone, 'hi')).rejects.toMatchObject({
      code: 'not_authenticated',
    })
  })
})

describe('simulated messages', () => {
  it('refuses to send for a session it does not know, as not linked', async () => {
    const refusal = provider.sendMessage('ghost', phone, 'hi')
    await expect(refusal).rejects.toMatchObject({
      name: 'ProviderError',
      code: 'not_authenticated',
      message: 'this session is not linked',
    })
  })

  it('refuses to send for a session still waiting for its scan', async () => {
    const s = session('unscanned')
    await provider.link(s.session, {})
    await expect(provider.sendMessage('unscanned', phone, 'hi')).rejects.toMatchObject({
      code: 'not_authenticated',
    })
    expect(() => provider.simulator!.deliver('unscanned', phone, 'hi')).toThrow(
      'this session is not linked',
    )
  })

  it('gives sent and received messages WhatsApp-like ids: SIM and uppercase hex', async () => {
    await linked('chatty')
    const sent = await provider.sendMessage('chatty', `+${phone}`, 'hi')
    const received = provider.simulator!.deliver('chatty', '34600000002', 'hello back')
    expect(sent.messageId).toMatch(/^SIM[0-9A-F]{16}$/)
    expect(received.id).toMatch(/^SIM[0-9A-F]{16}$/)
    expect(received.id).not.toBe(sent.messageId)
  })

  it('logs a sent message at debug level with the session id and the normalized recipient', async () => {
    await linked('traced')
    await provider.sendMessage('traced', `+${phone}`, 'hi')
    const entry = log.entries.find((e) => e.level === 'debug' && /sent/i.test(e.message))
    expect(entry?.fields).toEqual({ session_id: 'traced', to: `${phone}@s.whatsapp.net` })
  })
})

describe('simulated silence of WhatsApp', () => {
  const silenceMs = config.healthSilenceMs

  it('degrades a silent account after HEALTH_SILENCE_MS, then drops and relinks it after twice that', async () => {
    const s = await linked('quiet')
    const user = s.of('authenticated')[0]![0]
    const before = s.calls.length
    provider.simulator!.silence('quiet', true)
    vi.advanceTimersByTime(silenceMs - 1)
    expect(s.calls.length).toBe(before)
    vi.advanceTimersByTime(1)
    expect(s.calls.slice(before)).toEqual([
      { method: 'health', args: ['degraded', describeSilence(silenceMs)] },
    ])
    vi.advanceTimersByTime(silenceMs)
    expect(s.calls.slice(before + 1)).toEqual([
      {
        method: 'reconnecting',
        args: [
          true,
          {
            message: `${describeSilence(2 * silenceMs)}; the connection was dropped`,
            retryInMs: 0,
          },
        ],
      },
      { method: 'authenticated', args: [user] },
    ])
    // After the reconnect WhatsApp answers again: nothing more is reported.
    vi.advanceTimersByTime(10 * silenceMs)
    expect(s.calls.length).toBe(before + 3)
  })

  it('reports the account ok again when WhatsApp answers after degrading, and stops watching', async () => {
    const s = await linked('back')
    const before = s.calls.length
    provider.simulator!.silence('back', true)
    vi.advanceTimersByTime(silenceMs)
    provider.simulator!.silence('back', false)
    expect(s.calls.slice(before).map((c) => [c.method, c.args[0]])).toEqual([
      ['health', 'degraded'],
      ['health', 'ok'],
    ])
    vi.advanceTimersByTime(10 * silenceMs)
    expect(s.calls.length).toBe(before + 2)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('an answer from WhatsApp before any silence changes nothing', async () => {
    const s = await linked('chatting')
    const before = s.calls.length
    provider.simulator!.silence('chatting', false)
    vi.advanceTimersByTime(10 * silenceMs)
    expect(s.calls.length).toBe(before)
  })

  it('silencing an account already silent keeps its first silence window', async () => {
    const s = await linked('twice')
    const before = s.calls.length
    provider.simulator!.silence('twice', true)
    vi.advanceTimersByTime(silenceMs / 2)
    provider.simulator!.silence('twice', true)
    vi.advanceTimersByTime(silenceMs / 2)
    expect(s.calls.slice(before).map((c) => c.method)).toEqual(['health'])
    vi.advanceTimersByTime(silenceMs)
    // Degraded once, dropped once: one watch, not two.
    vi.advanceTimersByTime(10 * silenceMs)
    expect(s.calls.slice(before).map((c) => c.method)).toEqual([
      'health',
      'reconnecting',
      'authenticated',
    ])
  })

  it('refuses to silence a session that is not linked', async () => {
    const s = session('pending')
    await provider.link(s.session, {})
    expect(() => provider.simulator!.silence('pending', true)).toThrow('this session is not linked')
  })
})
