import base from './stryker.config.mjs'

/**
 * `npm run mutate:baileys`: the Baileys provider's files against the Baileys suites only
 * (vitest.mutate-baileys.config.ts). A lower bound of `npm run mutate`'s score on those files, in
 * tens of minutes instead of hours.
 *
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export default {
  ...base,
  vitest: { configFile: 'vitest.mutate-baileys.config.ts' },
  mutate: ['server/providers/baileys*.ts'],
  incrementalFile: 'reports/stryker-incremental-baileys.json',
  htmlReporter: { fileName: 'reports/mutation-baileys/index.html' },
  jsonReporter: { fileName: 'reports/mutation-baileys/mutation.json' },
}
