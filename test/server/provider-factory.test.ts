import { describe, expect, it, vi } from 'vitest'
import { loadConfig } from '../../server/config'
import { silentLogger } from '../../server/logger'
import { createProvider } from '../../server/providers'
import type { ProviderContext } from '../../server/providers/provider'

// The real Baileys provider connects to WhatsApp and looks its version up on the network.
const baileys = vi.hoisted(() => ({ created: [] as ProviderContext[] }))
vi.mock('../../server/providers/baileys', () => ({
  createBaileysProvider: (context: ProviderContext) => {
    baileys.created.push(context)
    return { name: 'baileys', supportsPairingCode: true }
  },
}))

describe('choosing the WhatsApp provider (WA_PROVIDER)', () => {
  it('uses the offline simulated WhatsApp by default', async () => {
    const provider = await createProvider({ config: loadConfig({}), logger: silentLogger })
    expect(provider.name).toBe('simulated')
    expect(provider.simulator).toBeDefined()
    expect(baileys.created).toEqual([])
  })

  it('uses Baileys, with the hub’s config and logger, when WA_PROVIDER=baileys', async () => {
    const context = { config: loadConfig({ WA_PROVIDER: 'baileys' }), logger: silentLogger }
    const provider = await createProvider(context)
    expect(provider.name).toBe('baileys')
    expect(baileys.created).toEqual([context])
  })
})
