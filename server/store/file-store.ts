import { mkdir, rm, stat } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { Logger } from '../logger'
import { KeyedSerializer } from '../keyed-serializer'
import {
  FOLDER_MODE,
  listOrEmpty,
  readIfExists,
  removeTornTempFiles,
  syncFolder,
  writeFileAtomic,
} from './atomic-file'
import { lockDataDir } from './lock'
import { decodeName, encodeName } from './names'
import type { Namespace, Store } from './store'

const HUB_FOLDER = 'hub'
const ACCOUNTS_FOLDER = 'accounts'

/** Set when an account's data is removed: handles taken before that stop writing. */
interface Life {
  removed: boolean
}

/**
 * The embedded store: one file per value under `DATA_DIR`, named by `encodeName`:
 *
 *   DATA_DIR/hub/<name>                  hub-wide values
 *   DATA_DIR/accounts/<name(id)>/<name>  one folder per account
 *
 * Every write is atomic (temp file, fsync, rename, folder fsync), so a crash leaves the old or the
 * new value, never half of one. All writes of one account, and its removal, go through one queue
 * in call order; reads wait for the writes queued before them.
 */
export class FileStore implements Store {
  private readonly queue = new KeyedSerializer()
  private readonly lives = new Map<string, Life>()
  private readonly accountsDir: string
  private unlock?: () => Promise<void>
  readonly hub: Namespace

  private constructor(
    readonly dataDir: string,
    private readonly logger: Logger,
  ) {
    this.accountsDir = join(dataDir, ACCOUNTS_FOLDER)
    this.hub = this.namespace(HUB_FOLDER, join(dataDir, HUB_FOLDER), { removed: false })
  }

  /**
   * Opens the store, creating `DATA_DIR` (0700) and clearing temp files torn by a crash.
   * `exclusive` takes DATA_DIR for this process until `close()` (a hub; not a reader beside one).
   */
  static async open(
    dataDir: string,
    logger: Logger,
    options: { exclusive?: boolean } = {},
  ): Promise<FileStore> {
    await mkdir(dataDir, { recursive: true, mode: FOLDER_MODE })
    const store = new FileStore(dataDir, logger)
    if (options.exclusive) store.unlock = await lockDataDir(dataDir)
    const folders = [join(dataDir, HUB_FOLDER)]
    for (const name of await listOrEmpty(store.accountsDir)) {
      folders.push(join(store.accountsDir, name))
    }
    for (const folder of folders) {
      for (const file of await removeTornTempFiles(folder)) {
        logger.warn('Removed a temp file torn by an interrupted write', {
          file: join(folder, file),
        })
      }
    }
    return store
  }

  account(id: string): Namespace {
    let life = this.lives.get(id)
    if (!life) {
      life = { removed: false }
      this.lives.set(id, life)
    }
    return this.namespace(`account:${id}`, this.accountDir(id), life)
  }

  async accountIds(): Promise<string[]> {
    const ids: string[] = []
    for (const name of await listOrEmpty(this.accountsDir)) {
      const id = decodeName(name)
      if (id === undefined) {
        this.logger.warn('Ignoring a folder the store did not make', {
          folder: join(this.accountsDir, name),
        })
      } else ids.push(id)
    }
    return ids
  }

  removeAccount(id: string): Promise<void> {
    const life = this.lives.get(id)
    if (life) life.removed = true
    this.lives.delete(id)
    const dir = this.accountDir(id)
    return this.queue.run(`account:${id}`, async () => {
      // Most removed sessions never stored anything (a QR nobody scanned): nothing to sync.
      if (!(await exists(dir))) return
      await rm(dir, { recursive: true, force: true })
      await syncFolder(this.accountsDir)
    })
  }

  flush(): Promise<void> {
    return this.queue.drain()
  }

  async close(): Promise<void> {
    await this.flush()
    await this.unlock?.()
    this.unlock = undefined
  }

  private accountDir(id: string): string {
    return join(this.accountsDir, encodeName(id))
  }

  private namespace(queueKey: string, dir: string, life: Life): Namespace {
    const settled = () => this.queue.settled(queueKey)
    const path = (key: string) => join(dir, encodeName(key))
    const read = (key: string) => readIfExists(path(key))
    const entries = async (prefix: string) => {
      const found: { key: string; name: string }[] = []
      for (const name of await listOrEmpty(dir)) {
        const key = decodeName(name)
        if (key !== undefined && key.startsWith(prefix)) found.push({ key, name })
      }
      return found
    }
    return {
      async get(key) {
        await settled()
        return read(key)
      },
      async getMany(keys) {
        await settled()
        const found = new Map<string, Buffer>()
        await Promise.all(
          keys.map(async (key) => {
            const value = await read(key)
            if (value !== undefined) found.set(key, value)
          }),
        )
        return found
      },
      write: (changes) => {
        const list = [...changes]
        return this.queue.run(queueKey, async () => {
          if (life.removed) {
            this.logger.debug('Dropped a write to removed account data', { store: queueKey })
            return
          }
          await mkdirDurable(dir)
          await Promise.all(
            list.map(([key, value]) =>
              value
                ? writeFileAtomic(path(key), value, { syncFolder: false })
                : rm(path(key), { force: true }),
            ),
          )
          await syncFolder(dir)
        })
      },
      async keys(prefix = '') {
        await settled()
        return (await entries(prefix)).map((entry) => entry.key)
      },
      async usage(prefix = '') {
        await settled()
        let bytes = 0
        const found = await entries(prefix)
        for (const { name } of found) {
          try {
            bytes += (await stat(join(dir, name))).size
          } catch {
            // removed meanwhile
          }
        }
        return { entries: found.length, bytes }
      },
    }
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw error
  }
}

/**
 * Creates `dir` (0700) and makes the new entries durable: a folder's name lives in its parent, so
 * each parent of a folder created here is synced, from the deepest up. A no-op when it exists.
 */
async function mkdirDurable(dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true, mode: FOLDER_MODE })
  if (first === undefined) return
  for (let created = dir; ; created = dirname(created)) {
    await syncFolder(dirname(created))
    if (created === first) break
  }
}
