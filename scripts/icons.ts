/**
 * Renders every icon from the one checked-in source, resources/icon.svg: the app icon (which
 * electron-builder turns into .ico and .icns), one tray icon per state, 1x and 2x, and the web UI's
 * favicon.
 * Run with `npm run icons` after changing the SVG; the PNGs are committed.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Resvg } from '@resvg/resvg-js'
import type { TrayState } from '../main/tray'

const resources = fileURLToPath(new URL('../resources/', import.meta.url))
const svg = readFileSync(`${resources}icon.svg`, 'utf8')

/** Tray state → bubble colour. */
export const TRAY_COLOURS = {
  stopped: '#8A8F98',
  running: '#1FA855',
  linked: '#0B7DDA',
  degraded: '#E37400',
  error: '#D93025',
} as const satisfies Record<TrayState, string>

const render = (source: string, size: number) =>
  new Resvg(source, { fitTo: { mode: 'width', value: size } }).render().asPng()

writeFileSync(`${resources}icon.png`, render(svg, 1024))
writeFileSync(
  fileURLToPath(new URL('../renderer/public/favicon.png', import.meta.url)),
  render(svg, 64),
)
for (const [state, colour] of Object.entries(TRAY_COLOURS)) {
  const tinted = svg.replace('fill="#1FA855"', `fill="${colour}"`)
  writeFileSync(`${resources}tray/${state}.png`, render(tinted, 16))
  writeFileSync(`${resources}tray/${state}@2x.png`, render(tinted, 32))
}
console.log('icons written to', resources)
