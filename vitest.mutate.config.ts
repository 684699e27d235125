import { defineConfig } from 'vitest/config'

/**
 * What `npm run mutate` (stryker.config.mjs) runs: the suites of vitest.config.ts's `server`
 * project that exercise sessions and providers in this process. Left out: suites that run the code
 * in child processes (Stryker switches mutants on inside its own workers only, so they can kill
 * none: the CLI, kill -9, key files, memory churn, the Python client), the QR render thread (it
 * runs the built worker, which the sandbox leaves out), and suites about the HTTP and socket
 * layers' own limits (timeouts, malformed requests, token failures, buffers), which reach the
 * session code only on their way and would make every mutant there pay for them, and the two
 * slowest suites that wait in real time (account health's silences, Baileys' one socket per
 * account): the same code is covered by liveness.test.ts and baileys-provider.test.ts.
 */
export const SESSION_AND_PROVIDER_SUITES = [
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
  'test/server/durability.test.ts',
  'test/server/http.test.ts',
  'test/server/hub-lifecycle.test.ts',
  'test/server/link-slots.test.ts',
  'test/server/list-sessions-paging.test.ts',
  'test/server/liveness-clock.test.ts',
  'test/server/liveness.test.ts',
  'test/server/persistence.test.ts',
  'test/server/provider-factory.test.ts',
  'test/server/provider-jid.test.ts',
  'test/server/qr-lifecycle.test.ts',
  'test/server/qr.test.ts',
  'test/server/send-limiter.test.ts',
  'test/server/session-commands.test.ts',
  'test/server/session-limits.test.ts',
  'test/server/session-manager-events.test.ts',
  'test/server/session-manager-lifecycle.test.ts',
  'test/server/session-manager.test.ts',
  'test/server/session-store.test.ts',
  'test/server/simulated-provider.test.ts',
  'test/server/socket-protocol.test.ts',
]

export default defineConfig({
  test: {
    name: 'server',
    environment: 'node',
    include: SESSION_AND_PROVIDER_SUITES,
    // A mutant that makes a test wait for an event that never comes fails it in 5 s, not 20.
    testTimeout: 5000,
  },
})
