/**
 * Mutation testing (`npm run mutate`, docs/testing.md): Stryker changes the server's session and
 * provider code one small edit at a time and runs the tests that cover each edit; an edit no test
 * notices is a gap in the tests.
 *
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutate.config.ts' },
  mutate: ['server/sessions/**/*.ts', 'server/providers/**/*.ts'],
  // Each mutant runs only the tests that reached it in the first, unmutated run.
  coverageAnalysis: 'perTest',
  // A mutant reached only outside any test (module set-up, a beforeAll, a timer firing between
  // tests) would need the whole suite per mutant: hours. Those are reported as Ignored instead.
  ignoreStatic: true,
  // Two cores: more would make the real-socket tests fight over them.
  concurrency: 2,
  // `--incremental` (npm run mutate) reuses the results of tests and code that did not change.
  incrementalFile: 'reports/stryker-incremental.json',
  reporters: ['html', 'json', 'clear-text', 'progress'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  thresholds: { high: 90, low: 80, break: null },
  // The sandbox needs sources and tests, not builds, reports or the UI.
  ignorePatterns: [
    'out',
    'dist',
    'data',
    'coverage',
    'test-results',
    'reports',
    'docs',
    'resources',
  ],
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
}
