import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { Ajv } from 'ajv'
import { parse } from 'yaml'
import { describe, expect, it } from 'vitest'
import { TRAY_STATES } from '../../main/tray'
import { filesOf, isNativeCode, isUnpacked, productionPackages } from '../helpers/packaged-app'

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

  it('unpacks from app.asar exactly the packages of the run-time tree that carry native code', () => {
    // Derived from what is installed, not from a copy of the list: a new native dependency, or a
    // Baileys release that brings one, fails here until electron-builder.yml unpacks it.
    const patterns = builderConfig.asarUnpack as string[]
    const packages = productionPackages()
    expect(packages).toContain('node_modules/@whiskeysockets/baileys')
    const native = packages.filter((dir) => filesOf(dir).some((file) => isNativeCode(file)))
    expect(native.length).toBeGreaterThan(0) // sharp's build for this platform, with libvips
    for (const dir of packages) {
      // A native package goes out whole: its addon finds the libraries beside it by relative path.
      // Anything else unpacked would only leave the archive and its integrity check.
      const expected = native.includes(dir)
      for (const file of filesOf(dir)) expect(isUnpacked(file, patterns), file).toBe(expected)
    }
  })

  it('has an icon for every tray state, rendered from the one SVG', () => {
    for (const state of TRAY_STATES) {
      for (const suffix of ['', '@2x']) {
        const png = readFileSync(new URL(`resources/tray/${state}${suffix}.png`, root))
        expect(png.subarray(1, 4).toString()).toBe('PNG')
      }
    }
    expect(readFileSync(new URL('resources/icon.svg', root), 'utf8')).toContain('<svg')
  })
})
