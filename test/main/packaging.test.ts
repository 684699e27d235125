import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { Ajv } from 'ajv'
import { parse } from 'yaml'
import { describe, expect, it } from 'vitest'

const require = createRequire(import.meta.url)
const root = new URL('../../', import.meta.url)
const builderConfig = parse(readFileSync(new URL('electron-builder.yml', root), 'utf8'))

describe('electron-builder.yml', () => {
  it("is valid against electron-builder's own configuration schema", () => {
    const schema = JSON.parse(readFileSync(require.resolve('app-builder-lib/scheme.json'), 'utf8'))
    const ajv = new Ajv({ allErrors: true, strict: false })
    const validate = ajv.compile(schema)
    const valid = validate(builderConfig)
    expect(validate.errors ?? []).toEqual([])
    expect(valid).toBe(true)
  })

  it('builds the promised installers with the app identity', () => {
    expect(builderConfig).toMatchObject({
      productName: 'WA Link Hub',
      asar: true,
      linux: { target: ['AppImage', 'deb'], category: 'Network' },
      win: { target: ['nsis'] },
      mac: { target: ['dmg'] },
    })
  })

  it('packages only the built output, icons and package.json', () => {
    expect(builderConfig.files).toEqual(
      expect.arrayContaining(['out/**', 'resources/**', 'package.json']),
    )
    expect(
      builderConfig.files.some((pattern: string) => /^(server|main|renderer|test)\b/.test(pattern)),
    ).toBe(false)
  })

  it('flips the Electron fuses that close the packaged app to code from outside it', () => {
    // electron-builder passes these to @electron/fuses when it packs (issue #14). A fuse left out
    // keeps Electron's default, which for each of these is the open one.
    expect(builderConfig.electronFuses).toEqual({
      runAsNode: false,
      enableNodeOptionsEnvironmentVariable: false,
      enableNodeCliInspectArguments: false,
      onlyLoadAppFromAsar: true,
      enableEmbeddedAsarIntegrityValidation: true,
      enableCookieEncryption: true,
      grantFileProtocolExtraPrivileges: false,
    })
  })

  it('ships a main process that needs nothing those fuses switch off', () => {
    // runAsNode off breaks child_process.fork (it relaunches Electron as Node); the file: fuse
    // matters only to a page loaded with loadFile or a file: URL. The built main does neither.
    const built = readFileSync(new URL('out/main/index.js', root), 'utf8')
    expect(built).not.toMatch(/["'](node:)?child_process["']/)
    expect(built).not.toContain('ELECTRON_RUN_AS_NODE')
    expect(built).not.toContain('loadFile(')
    expect(built).not.toMatch(/loadURL\(\s*["'`]file:/)
  })

  it('has an icon for every tray state, rendered from the one SVG', () => {
    for (const state of ['stopped', 'running', 'linked', 'error']) {
      for (const suffix of ['', '@2x']) {
        const png = readFileSync(new URL(`resources/tray/${state}${suffix}.png`, root))
        expect(png.subarray(1, 4).toString()).toBe('PNG')
      }
    }
    expect(readFileSync(new URL('resources/icon.svg', root), 'utf8')).toContain('<svg')
  })
})
