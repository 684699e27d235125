import { randomBytes } from 'node:crypto'
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'

/** Temp files are hidden and end in `.tmp`: loaders skip them, so a torn write is never read. */
export const TEMP_SUFFIX = '.tmp'

export function isTempFile(name: string): boolean {
  return name.startsWith('.') && name.endsWith(TEMP_SUFFIX)
}

/**
 * Deletes the temp files an interrupted write left in `folder` (never the real files, which a
 * crash cannot tear). Returns the names removed.
 */
export async function removeTornTempFiles(folder: string): Promise<string[]> {
  let names: string[]
  try {
    names = await readdir(folder)
  } catch {
    return []
  }
  const torn = names.filter(isTempFile)
  await Promise.all(torn.map((name) => rm(join(folder, name), { force: true })))
  return torn
}

/** Folders holding the hub's data are private to its user. */
export const FOLDER_MODE = 0o700

/**
 * Writes a file atomically: a temp file in the same folder, fsync, then rename over the target,
 * then fsync the folder so the rename itself survives a power loss. A caller writing several
 * files into one folder passes `syncFolder: false` and calls `syncFolder` once at the end.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: { syncFolder?: boolean } = {},
): Promise<void> {
  const folder = dirname(path)
  await mkdir(folder, { recursive: true, mode: FOLDER_MODE })
  const temp = join(folder, `.${basename(path)}.${randomBytes(6).toString('hex')}${TEMP_SUFFIX}`)
  const handle = await open(temp, 'w', 0o600)
  try {
    await handle.writeFile(data)
    await handle.sync()
  } finally {
    await handle.close()
  }
  try {
    await rename(temp, path)
  } catch (error) {
    await rm(temp, { force: true })
    throw error
  }
  if (options.syncFolder !== false) await syncFolder(folder)
}

/** Makes the folder's entries (renames, deletions) durable. */
export async function syncFolder(folder: string): Promise<void> {
  // Not every platform can open a folder for fsync (Windows cannot); the rename is still atomic.
  try {
    const handle = await open(folder, 'r')
    try {
      await handle.sync()
    } finally {
      await handle.close()
    }
  } catch {
    // best effort
  }
}

/** The file's bytes; undefined when there is no such file (any other error is thrown). */
export async function readIfExists(file: string): Promise<Buffer | undefined> {
  try {
    return await readFile(file)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

/** The folder's entries; none when there is no such folder (any other error is thrown). */
export async function listOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw error
  }
}
