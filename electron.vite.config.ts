import { resolve } from 'node:path'
import react from '@vitejs/plugin-react'
import { defineConfig } from 'electron-vite'
import type { Plugin } from 'vite'

/**
 * Vite's development server injects CSS as <style> elements, which the page's strict CSP refuses:
 * while serving (`npm run dev`) only, the CSP also allows inline styles. Built pages keep it strict.
 */
const devInlineStyles: Plugin = {
  name: 'wa-link-hub:dev-inline-styles',
  apply: 'serve',
  transformIndexHtml: (html) =>
    html.replace("style-src 'self';", "style-src 'self' 'unsafe-inline';"),
}

export default defineConfig({
  main: {
    build: {
      outDir: 'out/main',
      // One build: the desktop app (index), the headless server (cli, its QR render thread) and
      // the data key rotation share the server's code as chunks, so `npm run serve` runs exactly
      // what the app embeds.
      rolldownOptions: {
        input: {
          index: resolve('main/index.ts'),
          cli: resolve('server/cli.ts'),
          'rotate-key': resolve('server/rotate-key.ts'),
          // The headless server's QR render thread.
          'qr-worker': resolve('server/qr-worker.ts'),
        },
      },
    },
  },
  preload: {
    build: {
      outDir: 'out/preload',
      // A sandboxed preload cannot require() anything: bundle it whole, as CommonJS.
      externalizeDeps: false,
      isolatedEntries: true,
      rolldownOptions: {
        input: { index: resolve('preload/index.ts') },
        output: { format: 'cjs', entryFileNames: '[name].cjs' },
      },
    },
  },
  renderer: {
    root: 'renderer',
    plugins: [react(), devInlineStyles],
    build: {
      outDir: resolve('out/renderer'),
      rolldownOptions: { input: { index: resolve('renderer/index.html') } },
    },
  },
})
