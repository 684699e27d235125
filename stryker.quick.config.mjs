import base from './stryker.config.mjs'

/**
 * `npm run mutate:quick`: sessions and the providers other than Baileys, against the socket-free
 * suites only (vitest.mutate-quick.config.ts). A lower bound of `npm run mutate`'s score there.
 *
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export default {
  ...base,
  vitest: { configFile: 'vitest.mutate-quick.config.ts' },
  mutate: [
    'server/sessions/**/*.ts',
    'server/providers/simulated.ts',
    'server/providers/liveness.ts',
    'server/providers/provider.ts',
    'server/providers/index.ts',
  ],
  incrementalFile: 'reports/stryker-incremental-quick.json',
  htmlReporter: { fileName: 'reports/mutation-quick/index.html' },
  jsonReporter: { fileName: 'reports/mutation-quick/mutation.json' },
}
