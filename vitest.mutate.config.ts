import { configDefaults, defineConfig } from 'vitest/config'

/**
 * Suites that exercise the code in child processes (the CLI, kill -9, the key rotation, memory
 * churn, the Python client, the benchmark). Stryker switches mutants on inside its test workers
 * only: a child process always runs the original code, so these suites can kill no mutant, and
 * they are the slowest ones.
 */
const CHILD_PROCESS_SUITES = [
  'test/server/cli.test.ts',
  'test/server/crash-durability.test.ts',
  'test/server/data-key.test.ts',
  'test/server/python-client.test.ts',
  'test/server/session-memory.test.ts',
]

/**
 * What `npm run mutate` (stryker.config.mjs) runs: vitest.config.ts's `server` project without the
 * benchmark's smoke test and the child-process suites.
 */
export default defineConfig({
  test: {
    name: 'server',
    environment: 'node',
    include: ['test/server/**/*.test.ts'],
    exclude: [...configDefaults.exclude, ...CHILD_PROCESS_SUITES],
    testTimeout: 20_000,
  },
})
