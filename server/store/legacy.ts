import { readFile, rm, rmdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from '../logger'
import { SESSION_ID_PATTERN } from '../protocol'
import { isTempFile, listOrEmpty, readIfExists, syncFolder } from './atomic-file'
import type { Store } from './store'

/** The session record's key in an account. */
export const RECORD_KEY = 'record'
/** Where a provider's credentials live inside an account. */
export const CREDENTIALS_PREFIX = 'p/'
/** The generated access token's key among the hub's values. */
export const TOKEN_KEY = 'access-token'

const LEGACY_SESSIONS = 'sessions'
const LEGACY_RECORD = 'session.json'
const LEGACY_TOKEN = 'access-token'

/**
 * Moves data written by earlier versions (plain files: `DATA_DIR/access-token`,
 * `DATA_DIR/sessions/<id>/session.json` and the providers' `<name>.json`) into the store, sealed,
 * file by file: each value is written durably before its plain file is deleted, so a crash at any
 * point leaves every value in one place or both, and the next start carries on. A session's record
 * moves last, so an interrupted session is an orphan (credentials without a record), which the
 * session manager adopts or removes. Returns how many files moved.
 */
export async function migrateLegacyData(
  dataDir: string,
  store: Store,
  logger: Logger,
): Promise<number> {
  let moved = 0
  const tokenFile = join(dataDir, LEGACY_TOKEN)
  const token = await readIfExists(tokenFile)
  if (token !== undefined) {
    await store.hub.write([[TOKEN_KEY, token]])
    await removeDurably(tokenFile, dataDir)
    moved += 1
  }

  const sessionsDir = join(dataDir, LEGACY_SESSIONS)
  for (const folder of await listOrEmpty(sessionsDir)) {
    const dir = join(sessionsDir, folder)
    if (!SESSION_ID_PATTERN.test(folder)) {
      logger.warn('Leaving a folder that is not a session in place', { folder: dir })
      continue
    }
    const id = await legacySessionId(dir, folder)
    const account = store.account(id)
    const names = await listOrEmpty(dir)
    // The record last: until it moves, the session is not linked in the new place.
    names.sort((a, b) => Number(a === LEGACY_RECORD) - Number(b === LEGACY_RECORD))
    for (const name of names) {
      const file = join(dir, name)
      if (isTempFile(name)) {
        await rm(file, { force: true })
        continue
      }
      if (!name.endsWith('.json')) {
        logger.warn('Leaving a file the hub did not write in place', { file })
        continue
      }
      const value = await readIfExists(file)
      if (value === undefined) continue
      const key =
        name === LEGACY_RECORD ? RECORD_KEY : CREDENTIALS_PREFIX + name.slice(0, -'.json'.length)
      await account.write([[key, value]])
      await removeDurably(file, dir)
      moved += 1
    }
    await rmdir(dir).catch(() => undefined) // kept when a file was left in place
  }
  await rmdir(sessionsDir).catch(() => undefined)
  if (moved > 0) logger.info('Moved stored data into the encrypted store', { files: moved })
  return moved
}

/**
 * The id a legacy folder belongs to: its record's, when the record names this folder (on a file
 * system that ignores case the folder may be spelled differently), else the folder's name.
 */
async function legacySessionId(dir: string, folder: string): Promise<string> {
  try {
    const record = JSON.parse((await readFile(join(dir, LEGACY_RECORD))).toString('utf8')) as {
      id?: unknown
    }
    if (
      typeof record.id === 'string' &&
      SESSION_ID_PATTERN.test(record.id) &&
      record.id.toLowerCase() === folder.toLowerCase()
    ) {
      return record.id
    }
  } catch {
    // no record, or not readable: the folder's name it is
  }
  return folder
}

async function removeDurably(file: string, folder: string): Promise<void> {
  await rm(file, { force: true })
  await syncFolder(folder)
}
