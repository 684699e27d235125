import { request } from 'node:http'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { LogEntry } from '../../server/logger'
import { startTestHub, type TestHub } from '../helpers/hub'

let t: TestHub
let logs: LogEntry[]
const start = async (env: Record<string, string> = {}) => {
  t = await startTestHub(env)
  logs = []
  t.hub.events.on('log', (entry) => logs.push(entry))
}
beforeEach(() => {
  // Only the clock the hub reads for its per-address windows; timers and I/O run for real.
  vi.useFakeTimers({ toFake: ['Date'] })
  vi.setSystemTime(new Date('2026-01-01T00:00:00Z'))
})
afterEach(async () => {
  vi.useRealTimers()
  await t.close(true)
})

const later = (ms: number) => vi.setSystemTime(Date.now() + ms)

/** GET `path` from a chosen local address (the whole 127.0.0.0/8 reaches the hub). */
function getFrom(
  localAddress: string,
  path: string,
  token: string,
): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, t.info.url),
      { localAddress, headers: { Authorization: `Bearer ${token}` } },
      (res) => {
        let body = ''
        res.on('data', (chunk: Buffer) => (body += chunk.toString()))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }))
      },
    )
    req.once('error', reject)
    req.end()
  })
}

/** Read from an address of its own, which the tests never block. */
async function metric(name: string): Promise<number> {
  const { body: text } = await getFrom('127.0.0.9', '/metrics', t.info.token)
  const line = text.split('\n').find((l) => l.startsWith(`${name} `))
  if (!line) throw new Error(`no ${name} in /metrics`)
  return Number(line.slice(name.length + 1))
}

const refusalLogs = () =>
  logs.filter((entry) => entry.message === 'Refused a missing or wrong access token')

describe('unauthenticated traffic', () => {
  it('counts refused tokens by kind, HTTP and Socket.IO', async () => {
    await start()
    for (let i = 0; i < 3; i++)
      expect((await t.fetch('/stats', { token: 'wrong' })).status).toBe(401)
    await expect(t.connect({ token: 'wrong-token' })).rejects.toThrow('unauthorized')
    await expect(t.connect({ token: null })).rejects.toThrow('unauthorized')
    expect(await metric('wa_link_hub_auth_failures_total{kind="http"}')).toBe(3)
    expect(await metric('wa_link_hub_auth_failures_total{kind="socket"}')).toBe(2)
  })

  it('logs refusals from one address at most once a second, with how many there were', async () => {
    await start()
    for (let i = 0; i < 8; i++) await t.fetch('/stats', { token: 'wrong' })
    expect(refusalLogs()).toHaveLength(1)
    expect(refusalLogs()[0]).toMatchObject({
      level: 'warn',
      fields: { address: '127.0.0.1', kind: 'http', failures: 1 },
    })
    later(1000)
    await expect(t.connect({ token: 'wrong-token' })).rejects.toThrow('unauthorized')
    expect(refusalLogs()).toHaveLength(2)
    expect(refusalLogs()[1]).toMatchObject({ fields: { kind: 'socket', failures: 8 } })
  })

  it('logs a scan from many addresses as ten lines a second and a sum of the rest', async () => {
    await start()
    for (let i = 1; i <= 30; i++)
      expect((await getFrom(`127.0.1.${i}`, '/stats', 'wrong')).status).toBe(401)
    expect(refusalLogs().map((e) => e.fields?.address)).toEqual(
      Array.from({ length: 10 }, (_, i) => `127.0.1.${i + 1}`),
    )
    // The sum comes when that second is over (the clock of the timers is real here).
    await vi.waitFor(
      () =>
        expect(logs.at(-1)).toMatchObject({
          level: 'warn',
          message: 'Refused a missing or wrong access token (20 more in that second, not listed)',
        }),
      { timeout: 3000 },
    )
    expect(await metric('wa_link_hub_auth_failures_total{kind="http"}')).toBe(30)
  })

  it('refuses an address for a minute once it has failed AUTH_FAILURES_PER_MIN times', async () => {
    await start()
    for (let i = 0; i < 20; i++)
      expect((await t.fetch('/stats', { token: 'wrong' })).status).toBe(401)
    // Now even the right token is refused from that address, over HTTP and Socket.IO.
    const refused = await t.fetch('/stats')
    expect(refused.status).toBe(429)
    expect(refused.headers.get('retry-after')).toBe('60')
    expect(await refused.json()).toMatchObject({ code: 'rate_limited' })
    await expect(t.connect()).rejects.toThrow('rate_limited')
    // Another address is not.
    expect((await getFrom('127.0.0.2', '/stats', t.info.token)).status).toBe(200)
    expect(await metric('wa_link_hub_auth_rate_limited_total{kind="http"}')).toBe(1)
    expect(await metric('wa_link_hub_auth_rate_limited_total{kind="socket"}')).toBe(1)
    expect(logs.some((e) => e.message.startsWith('Refusing an address for a minute'))).toBe(true)

    later(60_000)
    expect((await t.fetch('/stats')).status).toBe(200)
    expect((await t.connect()).connected).toBe(true)
  })

  it('does not refuse an address one failure short of the limit', async () => {
    await start({ AUTH_FAILURES_PER_MIN: '5' })
    for (let i = 0; i < 4; i++)
      expect((await t.fetch('/stats', { token: 'wrong' })).status).toBe(401)
    expect((await t.fetch('/stats')).status).toBe(200)
    expect((await t.connect()).connected).toBe(true)
    // Socket.IO failures count against the same address.
    await expect(t.connect({ token: 'wrong-token' })).rejects.toThrow('unauthorized')
    expect((await t.fetch('/stats')).status).toBe(429)
  })

  it('forgets failures older than a minute', async () => {
    await start({ AUTH_FAILURES_PER_MIN: '3' })
    for (let i = 0; i < 2; i++) await t.fetch('/stats', { token: 'wrong' })
    later(60_000)
    for (let i = 0; i < 2; i++) await t.fetch('/stats', { token: 'wrong' })
    expect((await t.fetch('/stats')).status).toBe(200)
  })

  it('remembers at most AUTH_ADDRESSES_MAX addresses, the least recently seen going first', async () => {
    await start({ AUTH_ADDRESSES_MAX: '2', AUTH_FAILURES_PER_MIN: '2' })
    await getFrom('127.0.0.2', '/stats', 'wrong')
    await getFrom('127.0.0.3', '/stats', 'wrong')
    await getFrom('127.0.0.2', '/stats', 'wrong') // .2 is now blocked, and the most recent
    await getFrom('127.0.0.4', '/stats', 'wrong') // evicts .3
    expect(await metric('wa_link_hub_auth_tracked_addresses')).toBe(2)
    expect(await metric('wa_link_hub_auth_tracked_address_evictions_total')).toBe(1)
    expect((await getFrom('127.0.0.2', '/stats', t.info.token)).status).toBe(429)
    expect(await metric('wa_link_hub_limit{name="AUTH_ADDRESSES_MAX"}')).toBe(2)
  })
})
