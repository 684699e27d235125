import type { ProviderContext, WhatsAppProvider } from './provider'
import { createSimulatedProvider } from './simulated'

export type ProviderFactory = (
  context: ProviderContext,
) => WhatsAppProvider | Promise<WhatsAppProvider>

/** Picks the provider named by WA_PROVIDER. Baileys is loaded only when asked for: it is large. */
export const createProvider: ProviderFactory = async (context) => {
  if (context.config.provider === 'baileys') {
    const { createBaileysProvider } = await import('./baileys')
    return createBaileysProvider(context)
  }
  return createSimulatedProvider(context)
}
