import { readdir, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { z } from 'zod'
import type { Logger } from '../logger'
import { PROVIDER_NAMES, SESSION_ID_PATTERN, type LinkedUser, type ProviderName } from '../protocol'
import { KeyedSerializer, removeTornTempFiles, writeFileAtomic } from './atomic-file'

const RECORD_FILE = 'session.json'

const recordSchema = z.object({
  id: z.string().regex(SESSION_ID_PATTERN),
  provider: z.enum(PROVIDER_NAMES),
  user: z.object({ id: z.string(), name: z.string() }),
  linked_at: z.string(),
})

/** What survives a restart: a linked session. Credentials live beside it, owned by the provider. */
export interface SessionRecord {
  id: string
  provider: ProviderName
  user: LinkedUser
  linked_at: string
}

/**
 * One folder per session under `DATA_DIR/sessions/<id>/`: `session.json` (ours) plus whatever
 * credentials the provider keeps there. Every write is atomic and serialized per session.
 */
export class SessionStore {
  private readonly serializer = new KeyedSerializer()
  readonly root: string

  constructor(
    dataDir: string,
    private readonly logger: Logger,
  ) {
    this.root = join(dataDir, 'sessions')
  }

  sessionDir(id: string): string {
    if (!SESSION_ID_PATTERN.test(id)) throw new Error(`invalid session id: ${id}`)
    return join(this.root, id)
  }

  save(record: SessionRecord): Promise<void> {
    const path = join(this.sessionDir(record.id), RECORD_FILE)
    return this.serializer.run(record.id, () =>
      writeFileAtomic(path, `${JSON.stringify(record, null, 2)}\n`),
    )
  }

  /** Deletes the session's folder, credentials included. */
  remove(id: string): Promise<void> {
    const dir = this.sessionDir(id)
    return this.serializer.run(id, () => rm(dir, { recursive: true, force: true }))
  }

  /** Reads every linked session. Torn temp files and unreadable records are skipped, not fatal. */
  async loadAll(): Promise<SessionRecord[]> {
    let names: string[]
    try {
      names = await readdir(this.root)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw error
    }
    const records: SessionRecord[] = []
    for (const name of names) {
      if (!SESSION_ID_PATTERN.test(name)) continue
      const dir = join(this.root, name)
      for (const file of await removeTornTempFiles(dir)) {
        this.logger.warn('Removed a torn temp file left by an interrupted write', {
          file: join(dir, file),
        })
      }
      const record = await this.readRecord(dir, name)
      if (record) records.push(record)
    }
    return records
  }

  flush(): Promise<void> {
    return this.serializer.drain()
  }

  private async readRecord(dir: string, id: string): Promise<SessionRecord | undefined> {
    let text: string
    try {
      text = await readFile(join(dir, RECORD_FILE), 'utf8')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.logger.warn('Could not read a stored session', { session_id: id, error })
      }
      return undefined
    }
    try {
      const record = recordSchema.parse(JSON.parse(text))
      if (record.id !== id) throw new Error('id does not match its folder')
      return record
    } catch (error) {
      this.logger.warn('Ignoring a damaged stored session', { session_id: id, error })
      return undefined
    }
  }
}
