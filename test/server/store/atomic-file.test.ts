import type * as FsPromises from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { mkdir, readdir, readFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { KeyedSerializer } from '../../../server/keyed-serializer'
import { silentLogger, type Logger } from '../../../server/logger'
import { isTempFile, syncFolder, writeFileAtomic } from '../../../server/store/atomic-file'
import { FileStore } from '../../../server/store/file-store'
import { tempDir } from '../../helpers/hub'

/**
 * The file system as the store sees it, with two things a test can watch or break: `journal`
 * lists what reached the disk (writes, fsyncs, renames, by file name) in order, and `full` makes
 * every write stop with ENOSPC after half of its bytes, as a disk that fills up does.
 */
const disk = vi.hoisted(() => ({ journal: [] as string[], full: false }))

vi.mock('node:fs/promises', async (importOriginal) => {
  const fs = await importOriginal<typeof FsPromises>()
  const name = (path: unknown) => basename(String(path))
  const halfThenFull = async (handle: FileHandle, data: string | Uint8Array) => {
    const bytes = Buffer.from(data)
    await handle.write(bytes.subarray(0, bytes.length >> 1))
    throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })
  }
  const watched = (handle: FileHandle, file: string): FileHandle =>
    new Proxy(handle, {
      get(target, property) {
        if (property === 'writeFile') {
          return async (data: string | Uint8Array) => {
            disk.journal.push(`write ${file}`)
            return disk.full ? halfThenFull(target, data) : target.writeFile(data)
          }
        }
        if (property === 'sync') {
          return async () => {
            disk.journal.push(`sync ${file}`)
            return target.sync()
          }
        }
        const value: unknown = Reflect.get(target, property)
        return typeof value === 'function' ? value.bind(target) : value
      },
    })
  const open = (async (...args: Parameters<typeof fs.open>) =>
    watched(await fs.open(...args), name(args[0]))) as typeof fs.open
  const rename: typeof fs.rename = async (from, to) => {
    disk.journal.push(`rename ${name(from)} ${name(to)}`)
    return fs.rename(from, to)
  }
  // A plain write in place, were anything to use one, meets the same disk.
  const writeFile = (async (path: string, data: string | Uint8Array) => {
    disk.journal.push(`write ${name(path)}`)
    if (!disk.full) return fs.writeFile(path, data)
    const handle = await fs.open(path, 'w')
    try {
      await halfThenFull(handle, data)
    } finally {
      await handle.close()
    }
  }) as typeof fs.writeFile
  const mocked = { ...fs, open, rename, writeFile }
  return { ...mocked, default: mocked }
})

afterEach(() => {
  disk.journal.length = 0
  disk.full = false
})

/** The journal with each temp file's random name replaced by `<temp>`. */
const steps = () => disk.journal.map((step) => step.replace(/\.[^ ]+\.tmp\b/g, '<temp>'))

const big = (fill: string) => Buffer.alloc(256 * 1024, fill)

describe('writeFileAtomic', () => {
  it('a write cut short by a full disk leaves the previous content whole', async () => {
    const folder = await tempDir()
    const path = join(folder, 'creds')
    await writeFileAtomic(path, big('a'))
    disk.full = true
    await expect(writeFileAtomic(path, big('b'))).rejects.toMatchObject({ code: 'ENOSPC' })
    disk.full = false
    expect((await readFile(path)).equals(big('a'))).toBe(true)
    // What the cut-short write left is a temp file, which no reader takes for a value.
    expect((await readdir(folder)).filter((file) => file !== 'creds').every(isTempFile)).toBe(true)
  })

  it('flushes the new bytes before they replace the old file, then flushes the replacement', async () => {
    const folder = await tempDir()
    await writeFileAtomic(join(folder, 'record'), 'new')
    expect(steps()).toEqual([
      'write <temp>',
      'sync <temp>',
      'rename <temp> record',
      `sync ${basename(folder)}`,
    ])
    const temp = disk.journal[0]!.slice('write '.length)
    expect(isTempFile(temp)).toBe(true)
    expect(await readdir(folder)).toEqual(['record'])
    expect(await readFile(join(folder, 'record'), 'utf8')).toBe('new')
  })

  it('leaves the folder flush to the caller that writes several files, who flushes it once', async () => {
    const folder = await tempDir()
    await writeFileAtomic(join(folder, 'a'), '1', { syncFolder: false })
    await writeFileAtomic(join(folder, 'b'), '2', { syncFolder: false })
    await syncFolder(folder)
    expect(steps()).toEqual([
      'write <temp>',
      'sync <temp>',
      'rename <temp> a',
      'write <temp>',
      'sync <temp>',
      'rename <temp> b',
      `sync ${basename(folder)}`,
    ])
  })

  it('creates a missing folder, and removes its temp file when the rename fails', async () => {
    const folder = join(await tempDir(), 'new', 'folder')
    await writeFileAtomic(join(folder, 'value'), 'x')
    expect(await readFile(join(folder, 'value'), 'utf8')).toBe('x')
    // A folder where the file should go: the rename cannot replace it.
    await mkdir(join(folder, 'taken'))
    await expect(writeFileAtomic(join(folder, 'taken'), 'y')).rejects.toMatchObject({
      code: expect.stringMatching(/^E/),
    })
    expect((await readdir(folder)).sort()).toEqual(['taken', 'value'])
  })
})

describe('FileStore on a disk that fills up', () => {
  it('keeps the old value of a write that failed, and clears its torn temp file at the next start', async () => {
    const dataDir = await tempDir()
    const store = await FileStore.open(dataDir, silentLogger)
    const account = store.account('full-disk')
    await account.write([['creds', big('a')]])
    disk.full = true
    await expect(account.write([['creds', big('b')]])).rejects.toMatchObject({ code: 'ENOSPC' })
    disk.full = false
    expect((await account.get('creds'))?.equals(big('a'))).toBe(true)
    expect(await account.keys()).toEqual(['creds'])

    const warnings: string[] = []
    const logger: Logger = { ...silentLogger, warn: (message) => void warnings.push(message) }
    const again = await FileStore.open(dataDir, logger)
    expect(warnings).toEqual(['Removed a temp file torn by an interrupted write'])
    const [folder] = await readdir(join(dataDir, 'accounts'))
    expect(await readdir(join(dataDir, 'accounts', folder!))).toHaveLength(1)
    expect((await again.account('full-disk').get('creds'))?.equals(big('a'))).toBe(true)
  })
})

describe('KeyedSerializer', () => {
  it('runs the tasks of one key one after another, even after one fails', async () => {
    const serial = new KeyedSerializer()
    const order: string[] = []
    let release!: () => void
    const slow = serial.run('k', async () => {
      await new Promise<void>((resolve) => (release = resolve))
      order.push('slow')
      throw new Error('the first write failed')
    })
    const next = serial.run('k', async () => void order.push('next'))
    const other = serial.run('other', async () => void order.push('other key'))
    await other
    expect(order).toEqual(['other key'])
    release()
    await expect(slow).rejects.toThrow('the first write failed')
    await next
    expect(order).toEqual(['other key', 'slow', 'next'])
  })

  it('settled and drain wait for what was queued', async () => {
    const serial = new KeyedSerializer()
    const done: string[] = []
    const later = (label: string) => async () => {
      await new Promise((resolve) => setImmediate(resolve))
      done.push(label)
    }
    void serial.run('a', later('a1'))
    void serial.run('b', later('b1'))
    await serial.settled('a')
    expect(done).toContain('a1')
    await serial.drain()
    expect(done.sort()).toEqual(['a1', 'b1'])
    await expect(serial.settled('never')).resolves.toBeUndefined()
  })
})
