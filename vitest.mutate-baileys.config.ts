import { defineConfig } from 'vitest/config'

/**
 * `npm run mutate:baileys` (stryker.baileys.config.mjs): the Baileys provider's files against the
 * Baileys suites, which drive it through a fake of Baileys' socket in this process. The hub-level
 * suites of vitest.mutate.config.ts also reach `baileys.ts` (through the provider factory) but wait
 * on real sockets and timers: with them each of its 600 mutants took seconds, hours in all. What
 * they would catch and these miss counts as survived here, so the score is a lower bound.
 */
export default defineConfig({
  test: {
    name: 'server',
    environment: 'node',
    include: [
      'test/server/baileys-auth-store-validation.test.ts',
      'test/server/baileys-auth-store.test.ts',
      'test/server/baileys-decrypt.test.ts',
      'test/server/baileys-lid.test.ts',
      'test/server/baileys-linking.test.ts',
      'test/server/baileys-liveness.test.ts',
      'test/server/baileys-messages.test.ts',
      'test/server/baileys-provider.test.ts',
      'test/server/baileys-retries.test.ts',
      'test/server/baileys-upkeep.test.ts',
      'test/server/baileys-version.test.ts',
    ],
    testTimeout: 5000,
  },
})
