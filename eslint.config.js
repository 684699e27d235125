import js from '@eslint/js'
import reactHooks from 'eslint-plugin-react-hooks'
import globals from 'globals'
import tseslint from 'typescript-eslint'

/** The dependency rules of the architecture: a wrong arrow fails lint. */
const restrict = (patterns) => ({ 'no-restricted-imports': ['error', { patterns }] })

const noElectron = {
  group: ['electron', 'electron/*', 'electron-log', 'electron-log/*'],
  message: 'Only main/ and preload/ may use Electron.',
}
const noReact = {
  group: ['react', 'react-dom', 'react/*', 'react-dom/*'],
  message: 'React belongs to renderer/.',
}
const folder = (name, message) => ({ group: [`**/${name}`, `**/${name}/**`], message })

export default tseslint.config(
  {
    ignores: [
      'out/',
      'dist/',
      'coverage/',
      'data/',
      'node_modules/',
      'scratch/',
      'reports/',
      '.stryker-tmp/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'error',
    },
  },
  {
    files: ['server/**/*.ts'],
    rules: restrict([
      noElectron,
      noReact,
      folder('main', 'server/ must not depend on the desktop app.'),
      folder('preload', 'server/ must not depend on the desktop app.'),
      folder('renderer', 'server/ must not depend on the UI.'),
    ]),
  },
  {
    // The one server file the renderer may import: no Node built-ins in it.
    files: ['server/protocol.ts'],
    rules: restrict([
      {
        group: ['node:*', 'fs', 'path', 'crypto', 'http', 'events'],
        message: 'protocol.ts is shared with the browser.',
      },
      { group: ['./*', '../*'], message: 'protocol.ts stands alone.' },
    ]),
  },
  {
    files: ['main/**/*.ts'],
    rules: restrict([
      noReact,
      folder('renderer', 'main/ talks to the UI only over IPC.'),
      {
        group: ['**/preload/index', '**/preload/index.ts'],
        message: 'main/ may use only the contract, preload/api.ts.',
      },
    ]),
  },
  {
    files: ['preload/**/*.ts'],
    rules: restrict([
      noReact,
      folder('server', 'preload/ may use only preload/api and electron.'),
      folder('main', 'preload/ may use only preload/api and electron.'),
      folder('renderer', 'preload/ may use only preload/api and electron.'),
      { group: ['node:*'], message: 'The preload runs sandboxed: no Node modules.' },
    ]),
  },
  {
    files: ['renderer/**/*.{ts,tsx}'],
    languageOptions: { globals: { ...globals.browser } },
    plugins: { 'react-hooks': reactHooks },
    rules: {
      ...reactHooks.configs.recommended.rules,
      ...restrict([
        noElectron,
        folder('main', 'The renderer talks to main only through window.hub.'),
        {
          group: ['**/preload/index', '**/preload/index.ts'],
          message: 'Use the types in preload/api.ts.',
        },
        {
          group: ['**/server/*', '!**/server/protocol'],
          message: 'The renderer may import only server/protocol.',
        },
        { group: ['node:*'], message: 'The renderer runs in a browser.' },
      ]),
    },
  },
  {
    files: ['test/**/*.{ts,tsx}', 'bench/**/*.ts', 'scripts/**/*.ts', 'server/cli.ts'],
    rules: { 'no-console': 'off' },
  },
)
