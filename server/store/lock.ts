import { open, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'

const LOCK_FILE = 'hub.lock'

export class DataDirBusyError extends Error {
  constructor(
    readonly dataDir: string,
    readonly pid: number,
  ) {
    super(`DATA_DIR ${dataDir} is in use by another hub (process ${pid}); stop it first`)
    this.name = 'DataDirBusyError'
  }
}

/**
 * Takes DATA_DIR for this process: two hubs (or a hub and `rotate-key`) writing one DATA_DIR would
 * mix their writes. The lock file holds the owner's pid; a lock whose process is gone (kill -9, a
 * power loss) is taken over. Resolves with the function that releases it.
 */
export async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const path = join(dataDir, LOCK_FILE)
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(path, 'wx', 0o600)
      await handle.writeFile(`${process.pid}\n`)
      await handle.close()
      return () => rm(path, { force: true })
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
    const owner = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10)
    if (Number.isInteger(owner) && owner > 0 && isAlive(owner)) {
      throw new DataDirBusyError(dataDir, owner)
    }
    await rm(path, { force: true }) // its owner is gone: a stale lock
  }
  throw new Error(`could not take the lock on ${dataDir}`)
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it exists, owned by someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
