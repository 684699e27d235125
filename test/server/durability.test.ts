import { describe, expect, it } from 'vitest'
import { loadConfig } from '../../server/config'
import { silentLogger } from '../../server/logger'
import type { ServerEvents } from '../../server/protocol'
import type { ProviderSession, WhatsAppProvider } from '../../server/providers/provider'
import { createSimulatedProvider } from '../../server/providers/simulated'
import { SessionManager, type Broadcaster } from '../../server/sessions/session-manager'
import { SessionStore } from '../../server/sessions/session-store'
import { MemoryNamespace, MemoryStore, recordingSink } from '../helpers/memory-store'
import { sleep } from '../helpers/hub'
import { standaloneMetrics } from '../helpers/session-manager'

const config = loadConfig({ QR_TTL_FIRST_MS: '60000' })
const user = { id: '34600000001@s.whatsapp.net', name: 'Durable' }

/** Records what the manager sends to rooms. */
function recordingBroadcaster() {
  const sent: { event: keyof ServerEvents; payload: unknown }[] = []
  const broadcaster: Broadcaster = {
    toSession: (_id, event, payload) => void sent.push({ event, payload }),
    subscriberCount: () => 1,
  }
  return { sent, broadcaster }
}

/** A provider that links at once when told to: what matters here is only the manager. */
function instantProvider() {
  const sessions = new Map<string, ProviderSession>()
  const provider: WhatsAppProvider = {
    name: 'simulated',
    supportsPairingCode: false,
    link: async (session) => void sessions.set(session.id, session),
    resume: async () => undefined,
    inspect: async () => undefined,
    logout: async () => undefined,
    close: async () => undefined,
    sendMessage: async () => ({ messageId: 'x' }),
    shutdown: async () => undefined,
  }
  return { provider, linked: (id: string) => sessions.get(id)!.sink.authenticated(user) }
}

describe('durable before announced', () => {
  it('the session manager announces a new link only once its record is stored', async () => {
    const store = new MemoryStore()
    const { sent, broadcaster } = recordingBroadcaster()
    const { provider, linked } = instantProvider()
    const changes: string[] = []
    const manager: SessionManager = new SessionManager({
      config,
      logger: silentLogger,
      provider,
      store: new SessionStore(store, silentLogger),
      broadcaster,
      metrics: standaloneMetrics(),
      onChange: (status) => changes.push(status.status),
    })
    await manager.requestLink('slow-disk', undefined, () => undefined)
    store.hold()
    const announced = linked('slow-disk')
    await sleep(30)
    expect(sent.map((s) => s.event)).not.toContain('authenticated')
    expect(changes).not.toContain('authenticated')
    expect(manager.status('slow-disk').status).toBe('pending')
    store.release()
    await announced
    expect(await store.account('slow-disk').get('record')).toBeDefined()
    expect(sent.map((s) => s.event)).toContain('authenticated')
    expect(manager.status('slow-disk').status).toBe('authenticated')
  })

  it('the simulated phone reports a scan only once the credentials are stored', async () => {
    const provider = createSimulatedProvider({ config, logger: silentLogger })
    const store = new MemoryNamespace()
    const sink = recordingSink()
    await provider.link({ id: 'sim', store, sink }, {})
    const qr = sink.calls.find((call) => call.method === 'qr')!.args[0] as { data: string }
    store.hold()
    const scan = provider.simulator!.scan('sim', qr.data, {
      name: user.name,
      phone: '+34600000001',
    })
    await sleep(30)
    expect(sink.calls.map((call) => call.method)).not.toContain('authenticated')
    store.release()
    expect(await scan).toBe('ok')
    expect(sink.calls.map((call) => call.method)).toContain('authenticated')
    expect(await provider.inspect(store)).toEqual({
      id: '34600000001@s.whatsapp.net',
      name: user.name,
    })
    await provider.shutdown()
  })
})
