import type { ProviderContext, WhatsAppProvider } from './provider'
import { createSimulatedProvider } from './simulated'

export type ProviderFactory = (
  context: ProviderContext,
) => WhatsAppProvider | Promise<WhatsAppProvider>

/** Picks the provider named by WA_PROVIDER. */
export const createProvider: ProviderFactory = async (context) => {
  if (context.config.provider === 'baileys') {
    throw new Error('WA_PROVIDER=baileys is not available in this build yet')
  }
  return createSimulatedProvider(context)
}
