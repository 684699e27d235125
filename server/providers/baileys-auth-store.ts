import { readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import {
  BufferJSON,
  initAuthCreds,
  proto,
  type AuthenticationCreds,
  type AuthenticationState,
  type SignalDataSet,
  type SignalDataTypeMap,
  type SignalKeyStore,
} from '@whiskeysockets/baileys'
import type { Logger } from '../logger'
import { KeyedSerializer, removeTornTempFiles, writeFileAtomic } from '../sessions/atomic-file'

const CREDS_FILE = 'creds.json'

export interface AtomicAuthState {
  state: AuthenticationState
  /** Persists the current creds (call on every `creds.update`). */
  saveCreds(): Promise<void>
  /** Resolves when every queued write has reached the disk. */
  flush(): Promise<void>
  /** True when creds.json existed: a linked (or half-linked) account lives here. */
  readonly restored: boolean
}

/** Keys become file names: `<type>-<id>.json`, with characters unsafe in file names replaced. */
export function keyFileName(type: string, id: string): string {
  return `${type}-${id.replace(/\//g, '__').replace(/:/g, '-')}.json`
}

/**
 * Baileys' AuthenticationState in one folder per session, like its own useMultiFileAuthState but
 * safe for production: every write is atomic (temp file, fsync, rename) and writes to one key are
 * serialized, so a crash leaves either the old or the new value, never half of one.
 */
export async function useAtomicAuthState(folder: string, logger: Logger): Promise<AtomicAuthState> {
  const serializer = new KeyedSerializer()

  const read = async <T>(file: string): Promise<T | undefined> => {
    try {
      return JSON.parse(await readFile(join(folder, file), 'utf8'), BufferJSON.reviver) as T
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      logger.warn('Ignoring an unreadable credentials file', { file, error })
      return undefined
    }
  }
  const write = (file: string, value: unknown) =>
    serializer.run(file, () =>
      writeFileAtomic(join(folder, file), JSON.stringify(value, BufferJSON.replacer)),
    )
  const remove = (file: string) =>
    serializer.run(file, () => rm(join(folder, file), { force: true }))

  await removeTornTempFiles(folder)
  const stored = await read<AuthenticationCreds>(CREDS_FILE)
  const creds = stored ?? initAuthCreds()

  const keys: SignalKeyStore = {
    async get<T extends keyof SignalDataTypeMap>(type: T, ids: string[]) {
      const found: { [id: string]: SignalDataTypeMap[T] } = {}
      await Promise.all(
        ids.map(async (id) => {
          let value = await read<SignalDataTypeMap[T]>(keyFileName(type, id))
          if (type === 'app-state-sync-key' && value) {
            value = proto.Message.AppStateSyncKeyData.fromObject(
              value as unknown as proto.Message.IAppStateSyncKeyData,
            ) as unknown as SignalDataTypeMap[T]
          }
          if (value !== undefined && value !== null) found[id] = value
        }),
      )
      return found
    },
    async set(data: SignalDataSet) {
      const writes: Promise<void>[] = []
      for (const [type, entries] of Object.entries(data)) {
        for (const [id, value] of Object.entries(entries ?? {})) {
          const file = keyFileName(type, id)
          writes.push(value ? write(file, value) : remove(file))
        }
      }
      await Promise.all(writes)
    },
  }

  return {
    state: { creds, keys },
    saveCreds: () => write(CREDS_FILE, creds),
    flush: () => serializer.drain(),
    restored: stored !== undefined,
  }
}
