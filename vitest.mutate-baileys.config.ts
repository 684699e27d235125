import { defineConfig } from 'vitest/config'
import { SESSION_AND_PROVIDER_SUITES } from './vitest.mutate.config'

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
    // The Baileys suites of the full run's list, so the two cannot drift apart.
    include: SESSION_AND_PROVIDER_SUITES.filter((suite) =>
      suite.startsWith('test/server/baileys-'),
    ),
    testTimeout: 5000,
  },
})
