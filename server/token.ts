import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Config } from './config'
import { writeFileAtomic } from './sessions/atomic-file'

const TOKEN_FILE = 'access-token'

/**
 * The access token: SECRET_KEY when set, otherwise a random 32-byte token made at first start and
 * kept (mode 0600) in DATA_DIR, so clients keep working across restarts.
 */
export async function resolveToken(
  config: Config,
): Promise<{ token: string; source: 'SECRET_KEY' | 'generated' | 'stored' }> {
  if (config.secretKey) return { token: config.secretKey, source: 'SECRET_KEY' }
  const path = join(config.dataDir, TOKEN_FILE)
  try {
    const stored = (await readFile(path, 'utf8')).trim()
    if (/^[A-Za-z0-9_-]{32,}$/.test(stored)) return { token: stored, source: 'stored' }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
  const token = randomBytes(32).toString('base64url')
  await writeFileAtomic(path, `${token}\n`)
  return { token, source: 'generated' }
}

/** Constant-time comparison; hashing first makes the lengths equal without leaking them. */
export function tokenMatches(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest()
  const b = createHash('sha256').update(expected).digest()
  return timingSafeEqual(a, b)
}
