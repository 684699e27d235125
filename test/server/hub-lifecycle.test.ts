import { afterEach, describe, expect, it } from 'vitest'
import { loadConfig } from '../../server/config'
import { createHub, HubStartError } from '../../server/hub'
import type { LogEntry } from '../../server/logger'
import { silentLogger } from '../../server/logger'
import type { ErrorEvent, QrCodeEvent } from '../../server/protocol'
import { createSimulatedProvider } from '../../server/providers/simulated'
import {
  freePort,
  nextEvent,
  sleep,
  startTestHub,
  tempDir,
  TEST_TOKEN,
  type TestHub,
} from '../helpers/hub'

const hubs: TestHub[] = []
afterEach(async () => {
  for (const hub of hubs.splice(0)) await hub.close(true)
})
const start = async (...args: Parameters<typeof startTestHub>) => {
  const hub = await startTestHub(...args)
  hubs.push(hub)
  return hub
}

describe('hub lifecycle', () => {
  it('refuses a port in use with a clear error and keeps the first hub serving', async () => {
    const first = await start()
    const port = new URL(first.info.url).port
    const config = loadConfig({
      WS_PORT: port,
      WS_HOST: '127.0.0.1',
      SECRET_KEY: TEST_TOKEN,
      DATA_DIR: await tempDir(),
    })
    const second = createHub(config, { logger: silentLogger })
    const failures: unknown[] = []
    second.events.on('error', (failure) => failures.push(failure))
    const error = await second.start().catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(HubStartError)
    expect((error as HubStartError).failure.code).toBe('port_in_use')
    expect((error as Error).message).toContain(`Port ${port} is already in use`)
    expect(second.status()).toMatchObject({ state: 'error', error: { code: 'port_in_use' } })
    expect(failures).toHaveLength(1)
    expect((await first.fetch('/health')).status).toBe(200)
  })

  it('stops, frees the port, and starts again', async () => {
    const t = await start()
    const states: string[] = []
    t.hub.events.on('state', (status) => states.push(status.state))
    const socket = await t.connect()
    const gone = new Promise((resolve) => socket.once('disconnect', resolve))
    await t.hub.stop()
    await gone
    expect(t.hub.status().state).toBe('stopped')
    await expect(fetch(t.info.url + 'health')).rejects.toThrow()
    const info = await t.hub.start()
    expect((await fetch(`${info.url}health`)).status).toBe(200)
    expect(states).toEqual(['stopping', 'stopped', 'starting', 'running'])
  })

  it('reports clients, sessions and log entries as events', async () => {
    const t = await start({ LOG_LEVEL: 'debug' })
    const clients: number[] = []
    const sessions: string[] = []
    const logs: LogEntry[] = []
    t.hub.events.on('clients', (count) => clients.push(count))
    t.hub.events.on('session', (status) => sessions.push(`${status.session_id}:${status.status}`))
    t.hub.events.on('log', (entry) => logs.push(entry))
    const socket = await t.connect()
    await socket.emitWithAck('get_qr', { session_id: 'watched' })
    socket.close()
    await sleep(100)
    expect(clients).toEqual([1, 0])
    expect(sessions).toContain('watched:qr_ready')
    expect(logs.map((entry) => entry.message)).toEqual(
      expect.arrayContaining([
        'Client connected',
        'Session created',
        'QR issued',
        'Client disconnected',
      ]),
    )
    expect(logs.every((entry) => !JSON.stringify(entry).includes(TEST_TOKEN))).toBe(true)
    expect(t.hub.status()).toMatchObject({
      state: 'running',
      clients: 0,
      sessions: { total: 1, qr_ready: 1 },
    })
  })

  it('a provider failing in one session affects only that session', async () => {
    const t = await start(
      {},
      {
        providerFactory: (context) => {
          const real = createSimulatedProvider(context)
          return {
            ...real,
            simulator: real.simulator,
            async link(session, options) {
              if (session.id === 'cursed') throw new Error('boom')
              return real.link(session, options)
            },
          }
        },
      },
    )
    const socket = await t.connect()
    const error = nextEvent<ErrorEvent>(socket, 'error')
    const ack = await socket.emitWithAck('get_qr', { session_id: 'cursed' })
    expect(ack).toMatchObject({ ok: false, error: { code: 'provider_error' } })
    expect(await error).toMatchObject({ code: 'provider_error', session_id: 'cursed' })
    const status = await socket.emitWithAck('get_status', { session_id: 'cursed' })
    expect(status).toMatchObject({ status: 'disconnected', reason: 'failed' })
    const qr = nextEvent<QrCodeEvent>(socket, 'qr_code')
    expect(await socket.emitWithAck('get_qr', { session_id: 'blessed' })).toMatchObject({
      ok: true,
    })
    expect((await qr).session_id).toBe('blessed')
  })
})

describe('idle cleanup', () => {
  it('removes an unlinked session without subscribers after SESSION_IDLE_MS', async () => {
    const t = await start({ SESSION_IDLE_MS: '300' })
    const watcher = await t.connect()
    const leaver = await t.connect()
    await leaver.emitWithAck('get_qr', { session_id: 'idle' })
    await watcher.emitWithAck('get_qr', { session_id: 'watched' })
    leaver.close()
    await sleep(800)
    expect(await watcher.emitWithAck('get_status', { session_id: 'idle' })).toMatchObject({
      ok: false,
      error: { code: 'unknown_session' },
    })
    // the session with a subscriber stays
    expect(await watcher.emitWithAck('get_status', { session_id: 'watched' })).toMatchObject({
      ok: true,
    })
  })

  it('never removes a linked session, however long nobody watches it', async () => {
    const t = await start({ SESSION_IDLE_MS: '300' })
    const socket = await t.connect()
    const qr = nextEvent<QrCodeEvent>(socket, 'qr_code')
    await socket.emitWithAck('get_qr', { session_id: 'linked' })
    await t.fetch('/api/sessions/linked/simulate-scan', {
      method: 'POST',
      body: JSON.stringify({ qr_data: (await qr).qr_data }),
    })
    await socket.emitWithAck('get_qr', { session_id: 'short-lived' })
    socket.close()
    await sleep(800)
    const checker = await t.connect()
    expect(await checker.emitWithAck('get_status', { session_id: 'linked' })).toMatchObject({
      ok: true,
      status: 'authenticated',
    })
    expect(await checker.emitWithAck('get_status', { session_id: 'short-lived' })).toMatchObject({
      ok: false,
      error: { code: 'unknown_session' },
    })
  })

  it('logs each removal and reports the session as disconnected (inactive)', async () => {
    const t = await start({ SESSION_IDLE_MS: '300' })
    const socket = await t.connect()
    await socket.emitWithAck('get_qr', { session_id: 'fading' })
    const ended: string[] = []
    t.hub.events.on('session', (status) =>
      ended.push(`${status.session_id}:${status.status}:${status.reason}`),
    )
    const logs: string[] = []
    t.hub.events.on('log', (entry) =>
      logs.push(`${entry.message}:${String(entry.fields?.session_id)}`),
    )
    socket.close()
    await sleep(800)
    expect(logs).toContain('Idle session removed:fading')
    expect(ended).toEqual(['fading:disconnected:inactive'])
  })
})

describe('restart', () => {
  it('clients reconnect by themselves when the hub comes back on the same port', async () => {
    const t = await start({ WS_PORT: String(await freePort()) })
    const { io } = await import('socket.io-client')
    const socket = io(t.info.url, {
      auth: { token: t.info.token },
      transports: ['websocket'],
      reconnectionDelay: 50,
      reconnectionDelayMax: 100,
    })
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
    const dropped = new Promise<string>((resolve) => socket.once('disconnect', resolve))
    await t.hub.stop()
    expect(await dropped).toBe('transport close')
    const back = new Promise<void>((resolve) => socket.once('connect', () => resolve()))
    await t.hub.start()
    await back
    expect(await socket.emitWithAck('list_sessions', {})).toMatchObject({ ok: true })
    socket.close()
  })
})
