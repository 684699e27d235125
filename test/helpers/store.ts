import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { silentLogger } from '../../server/logger'
import { openStore } from '../../server/store'
import { CREDENTIALS_PREFIX } from '../../server/store/legacy'
import { scoped, type Namespace, type Store } from '../../server/store/store'

/** The store a test hub on `dataDir` uses (its key file included), opened beside it. */
export function openDataStore(dataDir: string, dataKey?: Buffer): Promise<Store> {
  return openStore({ dataDir, dataKey, dataKeyPrevious: [] }, silentLogger)
}

/** A session's credentials as the provider sees them. */
export async function credentialsOf(dataDir: string, sessionId: string): Promise<Namespace> {
  return scoped((await openDataStore(dataDir)).account(sessionId), CREDENTIALS_PREFIX)
}

export async function storedSessionIds(dataDir: string): Promise<string[]> {
  return (await openDataStore(dataDir)).accountIds()
}

/** Every file under `dir`, recursively, relative to it. */
export async function filesUnder(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(prefix, entry.name)
    if (entry.isDirectory()) out.push(...(await filesUnder(join(dir, entry.name), path)))
    else out.push(path)
  }
  return out
}

/** The files under `dir` whose name or content holds `marker` in plain text. */
export async function filesShowing(dir: string, marker: string): Promise<string[]> {
  const found: string[] = []
  for (const file of await filesUnder(dir)) {
    const bytes = await readFile(join(dir, file))
    if (file.includes(marker) || bytes.includes(Buffer.from(marker, 'utf8'))) found.push(file)
  }
  return found
}
