/**
 * What electron-builder puts in the packaged app, computed from this checkout: the production
 * dependency tree as installed, the files of each package, which of them hold native code, and
 * which match electron-builder.yml's `asarUnpack`. Shared by the packaging tests.
 */
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import type * as Minimatch from 'minimatch'
import { parse } from 'yaml'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** Modules as electron-builder itself loads them (its own minimatch and @electron/asar). */
export const builderRequire = createRequire(
  createRequire(import.meta.url).resolve('app-builder-lib/package.json'),
)
const { minimatch } = builderRequire('minimatch') as typeof Minimatch

interface Manifest {
  dependencies?: Record<string, string>
  optionalDependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
}

const manifest = (dir: string) =>
  JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest

/** Where Node (and npm's layout) finds package `name` for code in `from`, if it is installed. */
function locate(name: string, from: string, root: string): string | undefined {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name)
    if (existsSync(join(candidate, 'package.json'))) return candidate
    if (dir === root || dirname(dir) === dir) return undefined
  }
}

/**
 * The packages the app needs at run time: `dependencies` and, through them, every dependency,
 * optional dependency and peer dependency that is installed (npm installs non-optional peers, as
 * sharp for Baileys; electron-builder packs them). Folders relative to `root`, sorted.
 */
export function productionPackages(root = ROOT): string[] {
  const found = new Set<string>()
  const visit = (dir: string, names: Iterable<string>) => {
    for (const name of names) {
      const at = locate(name, dir, root)
      if (!at || found.has(at)) continue
      found.add(at)
      const own = manifest(at)
      visit(at, [
        ...Object.keys(own.dependencies ?? {}),
        ...Object.keys(own.optionalDependencies ?? {}),
        ...Object.keys(own.peerDependencies ?? {}),
      ])
    }
  }
  visit(root, Object.keys(manifest(root).dependencies ?? {}))
  return [...found].map((dir) => posix(relative(root, dir))).sort()
}

/** A package's files (its nested node_modules are packages of their own), relative to `root`. */
export function filesOf(packageDir: string, root = ROOT): string[] {
  const files: string[] = []
  const walk = (dir: string) => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      const path = `${dir}/${entry.name}`
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules') walk(path)
      } else files.push(path)
    }
  }
  walk(packageDir)
  return files
}

const NATIVE = /\.(node|dll|dylib|exe|so(\.\d+)*)$/
const EXECUTABLE_MAGIC = [
  Buffer.from([0x7f, 0x45, 0x4c, 0x46]), // ELF
  Buffer.from([0xcf, 0xfa, 0xed, 0xfe]), // Mach-O 64-bit
  Buffer.from([0xca, 0xfe, 0xba, 0xbe]), // Mach-O universal
  Buffer.from('MZ'), // PE
]

/**
 * Native code: what the OS loader (dlopen, LoadLibrary) or exec must open from a real file, which
 * Electron cannot serve from inside app.asar: addons and libraries by name, executables by their
 * first bytes (electron-builder's own unpack detector looks at the same things).
 */
export function isNativeCode(file: string, root = ROOT): boolean {
  if (NATIVE.test(file)) return true
  if (/\.[^/]+$/.test(file.split('/').pop()!)) return false
  const head = Buffer.alloc(4)
  const fd = openSync(join(root, file), 'r')
  try {
    readSync(fd, head, 0, 4, 0)
  } finally {
    closeSync(fd)
  }
  return EXECUTABLE_MAGIC.some((magic) => head.subarray(0, magic.length).equals(magic))
}

export function builderConfig(root = ROOT): { asarUnpack?: string[]; files: string[] } {
  return parse(readFileSync(join(root, 'electron-builder.yml'), 'utf8'))
}

/** Matches a path relative to the app folder as electron-builder's file patterns do (dot: true). */
export function isUnpacked(file: string, patterns: string[]): boolean {
  return patterns.some((pattern) => minimatch(file, pattern, { dot: true }))
}

const posix = (path: string) => path.split(sep).join('/')
