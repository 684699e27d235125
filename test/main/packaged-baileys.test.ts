// @vitest-environment node
/**
 * Does the real WhatsApp provider load in the packaged app? Electron cannot be launched here, and
 * plain Node cannot read app.asar, so this builds the packaged layout and runs the provider the
 * way Electron's asar support would:
 *
 * - `resources/app.asar` and `app.asar.unpacked/`, made with electron-builder's own @electron/asar
 *   from what electron-builder would pack (the built `out/`, package.json and the production
 *   dependency tree, less its `files` exclusions and default ones), unpacking what `asarUnpack`
 *   matches;
 * - `resources/app/`: the archive extracted, standing for the virtual folder Electron's patched
 *   fs and require present. Every fs read works the same inside the archive (Electron's docs:
 *   "Node APIs like fs.readFile and require treat ASAR archives as virtual directories"), so
 *   reads need no check of their own;
 * - what does not: native code goes to the OS loader, which needs a real file. Electron's
 *   process.dlopen loads an unpacked addon from `app.asar.unpacked/` and copies a packed one to a
 *   temporary file first, where any library it links beside itself is missing. A hook does the
 *   same here, then really loads the file, so a wrong `asarUnpack` fails as it would for users.
 *
 * Then a child Node process imports the provider chunk of the built main process, as main does
 * when the Baileys provider is chosen, and makes Baileys do its run-time work: WhatsApp keys
 * (Baileys' WebAssembly, inlined in whatsapp-rust-bridge) and an image thumbnail (sharp, native).
 */
import type * as Asar from '@electron/asar'
import { execFile } from 'node:child_process'
import {
  createReadStream,
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type * as Minimatch from 'minimatch'
import { PNG } from 'pngjs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  builderConfig,
  builderRequire,
  filesOf,
  isUnpacked,
  productionPackages,
  ROOT,
} from '../helpers/packaged-app'

const config = builderConfig()
const stage = mkdtempSync(join(tmpdir(), 'wa-link-hub-packaged-'))
const resources = join(stage, 'resources')
const archive = join(resources, 'app.asar')
const appView = join(resources, 'app')

interface LoadReport {
  dlopen: { file: string; unpacked: boolean; error?: string }[]
  provider?: string
  keys?: number
  thumbnail?: number
  error?: string
}

/** The app folder's files as electron-builder would collect them, relative to the project. */
function packedFiles(): string[] {
  const { minimatch } = builderRequire('minimatch') as typeof Minimatch
  const { excludedExts, excludedNames } = builderRequire('app-builder-lib/out/fileMatcher') as {
    excludedExts: string
    excludedNames: string
  }
  const excluded = [
    ...config.files.filter((pattern) => pattern.startsWith('!')).map((p) => p.slice(1)),
    `**/*.{${excludedExts},pdb}`,
    `**/{${excludedNames}}`,
  ]
  const keep = (file: string) => !excluded.some((p) => minimatch(file, p, { dot: true }))
  const own = [...filesOf('out'), 'package.json'].filter((file) =>
    config.files.some((p) => !p.startsWith('!') && minimatch(file, p, { dot: true })),
  )
  return [...own, ...productionPackages().flatMap((dir) => filesOf(dir))].filter(keep)
}

async function pack(): Promise<void> {
  const asar = builderRequire('@electron/asar') as typeof Asar
  const patterns = config.asarUnpack ?? []
  await asar.createPackageFromStreams(
    archive,
    packedFiles().map((file) => ({
      type: 'file' as const,
      path: file,
      unpacked: isUnpacked(file, patterns),
      stat: lstatSync(join(ROOT, file)),
      streamGenerator: () => createReadStream(join(ROOT, file)),
    })),
  )
  asar.extractAll(archive, appView)
}

/** Node's --import hook for the child: Electron's dlopen for files in the archive, and a stub
 *  for the `electron` module, which main imports before it reaches the provider. */
const HOOK = `
import { register } from 'node:module'
import { appendFileSync, copyFileSync, existsSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, isAbsolute, join, relative } from 'node:path'
import { pathToFileURL } from 'node:url'

const { APP_VIEW, UNPACKED, REPORT, ELECTRON_STUB } = process.env
register('data:text/javascript,' + encodeURIComponent(
  'export async function resolve(specifier, context, next) {' +
  '  return specifier === "electron"' +
  '    ? { url: ' + JSON.stringify(pathToFileURL(ELECTRON_STUB).href) + ', shortCircuit: true }' +
  '    : next(specifier, context) }'))

const dlopen = process.dlopen
process.dlopen = (module, filename, ...rest) => {
  const file = relative(APP_VIEW, filename)
  if (file.startsWith('..') || isAbsolute(file)) return dlopen.call(process, module, filename, ...rest)
  const unpacked = existsSync(join(UNPACKED, file))
  let target = join(UNPACKED, file)
  if (!unpacked) {
    target = join(mkdtempSync(join(tmpdir(), 'asar-copy-')), basename(file))
    copyFileSync(filename, target)
  }
  try {
    const loaded = dlopen.call(process, module, target, ...rest)
    appendFileSync(REPORT, JSON.stringify({ dlopen: { file, unpacked } }) + '\\n')
    return loaded
  } catch (error) {
    appendFileSync(REPORT, JSON.stringify({ dlopen: { file, unpacked, error: error.message } }) + '\\n')
    throw error
  }
}
`

/** The run-time work, in the child, from the packaged app's own folder. */
const SCRIPT = `
import { appendFileSync, readdirSync } from 'node:fs'
const write = (entry) => appendFileSync(process.env.REPORT, JSON.stringify(entry) + '\\n')
try {
  const chunk = readdirSync('out/main/chunks').find((name) => name.startsWith('baileys-'))
  const { createBaileysProvider } = await import('./out/main/chunks/' + chunk)
  write({ provider: typeof createBaileysProvider })
  const baileys = await import('@whiskeysockets/baileys')
  write({ keys: Object.keys(baileys.initAuthCreds()).length })
  const png = Buffer.from(process.env.PNG, 'base64')
  write({ thumbnail: (await baileys.extractImageThumb(png, 8)).buffer.length })
} catch (error) {
  write({ error: error.message })
}
`

/** A stub of the `electron` module with the names the built main imports: main quits at once
 *  (another instance holds the lock), so only the provider chunk it shares code with runs. */
function electronStub(): string {
  const main = readFileSync(join(appView, 'out/main/index.js'), 'utf8')
  const names = /import\s*\{([^}]*)\}\s*from\s*"electron"/.exec(main)?.[1]?.split(',') ?? []
  return names
    .map((name) => name.trim())
    .filter(Boolean)
    .map((name) =>
      name === 'app'
        ? 'export const app = { requestSingleInstanceLock: () => false, quit() {}, on() {} }'
        : `export const ${name} = {}`,
    )
    .join('\n')
}

function runInPackagedApp(options: { ignoreUnpacked: boolean }): Promise<LoadReport> {
  const run = mkdtempSync(join(stage, 'run-'))
  const report = join(run, 'report.jsonl')
  writeFileSync(report, '')
  const image = new PNG({ width: 16, height: 16 })
  image.data.fill(0x80)
  const env = {
    ...process.env,
    APP_VIEW: appView,
    // Nothing unpacked: what the app would meet with asarUnpack left out.
    UNPACKED: options.ignoreUnpacked ? join(run, 'nothing-unpacked') : `${archive}.unpacked`,
    REPORT: report,
    ELECTRON_STUB: join(stage, 'electron-stub.mjs'),
    PNG: PNG.sync.write(image).toString('base64'),
    TMPDIR: run, // the addon's temporary copies go with the stage
  }
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', join(stage, 'hook.mjs'), '--input-type=module', '-e', SCRIPT],
      { cwd: appView, env, timeout: 60_000 },
      (error, _stdout, stderr) => {
        if (error) return reject(new Error(`the packaged app's process failed: ${stderr}`))
        const result: LoadReport = { dlopen: [] }
        for (const line of readFileSync(report, 'utf8').trim().split('\n')) {
          const entry = JSON.parse(line) as Partial<LoadReport> & {
            dlopen?: LoadReport['dlopen'][0]
          }
          if (entry.dlopen) result.dlopen.push(entry.dlopen)
          else Object.assign(result, entry)
        }
        resolve(result)
      },
    )
  })
}

beforeAll(async () => {
  if (!existsSync(join(ROOT, 'out/main/index.js')))
    throw new Error(
      'out/ is missing: run `npx electron-vite build` (npm test does) before this suite',
    )
  await pack()
  writeFileSync(join(stage, 'hook.mjs'), HOOK)
  writeFileSync(join(stage, 'electron-stub.mjs'), electronStub())
}, 120_000)
afterAll(() => rmSync(stage, { recursive: true, force: true }))

describe('the packaged app (app.asar + app.asar.unpacked)', () => {
  it('loads the Baileys provider and runs Baileys with its native code from app.asar.unpacked', async () => {
    const report = await runInPackagedApp({ ignoreUnpacked: false })
    expect(report.error).toBeUndefined()
    expect(report.provider).toBe('function')
    expect(report.keys).toBeGreaterThan(5)
    expect(report.thumbnail).toBeGreaterThan(0)
    // Every native file loaded came from the unpacked folder; sharp's addon was among them.
    expect(report.dlopen.length).toBeGreaterThan(0)
    for (const load of report.dlopen) expect(load).toEqual({ file: load.file, unpacked: true })
    expect(report.dlopen.map((load) => load.file)).toContainEqual(
      expect.stringMatching(/^node_modules\/@img\/sharp-[^/]+\/.+\.node$/),
    )
  }, 60_000)

  it('fails as users would without asarUnpack: the addon, copied out alone, misses libvips', async () => {
    const report = await runInPackagedApp({ ignoreUnpacked: true })
    expect(report.provider).toBe('function') // plain JavaScript and WebAssembly load from the archive
    expect(report.keys).toBeGreaterThan(5)
    expect(report.thumbnail).toBeUndefined()
    expect(report.error).toMatch(/No image processing library available/)
    expect(report.dlopen).toContainEqual({
      file: expect.stringMatching(/\.node$/),
      unpacked: false,
      error: expect.stringMatching(/libvips/),
    })
  }, 60_000)

  it('packs what electron-builder would: the built main and the dependency tree, nothing unpacked but native code', () => {
    const unpacked = readdirSync(`${archive}.unpacked/node_modules/@img`)
    expect(unpacked.sort()).toEqual(
      productionPackages()
        .filter((dir) => dir.startsWith('node_modules/@img/sharp-'))
        .map((dir) => dir.slice('node_modules/@img/'.length))
        .sort(),
    )
    expect(readdirSync(`${archive}.unpacked`)).toEqual(['node_modules'])
    expect(existsSync(join(appView, 'out/main/index.js'))).toBe(true)
    expect(existsSync(join(appView, 'node_modules/@whiskeysockets/baileys/package.json'))).toBe(
      true,
    )
  })
})
