import { defineConfig } from 'vitest/config'

/**
 * `npm run mutate:quick` (stryker.quick.config.mjs): only the suites that test sessions and
 * providers without sockets, each test in milliseconds. A mutant these miss may still be caught by
 * the socket suites of vitest.mutate.config.ts, so the score is a lower bound of `npm run mutate`'s,
 * in minutes instead of hours.
 */
export default defineConfig({
  test: {
    name: 'server',
    environment: 'node',
    include: [
      'test/server/durability.test.ts',
      'test/server/link-slots.test.ts',
      'test/server/liveness-clock.test.ts',
      'test/server/liveness.test.ts',
      'test/server/provider-factory.test.ts',
      'test/server/provider-jid.test.ts',
      'test/server/send-limiter.test.ts',
      'test/server/session-commands.test.ts',
      'test/server/session-manager-events.test.ts',
      'test/server/session-manager-lifecycle.test.ts',
      'test/server/session-manager.test.ts',
      'test/server/session-store.test.ts',
      'test/server/simulated-provider.test.ts',
    ],
    // Every test here takes milliseconds: a mutant that leaves one waiting fails it in a second.
    testTimeout: 1000,
  },
})
