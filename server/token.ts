import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Config } from './config'
import type { Logger } from './logger'
import { TOKEN_KEY } from './store/legacy'
import { utf8, type Namespace } from './store/store'

const TOKEN_PATTERN = /^[A-Za-z0-9_-]{32,}$/

/**
 * The access token: SECRET_KEY when set, otherwise a random 32-byte token made at first start and
 * kept (sealed) in the store, so clients keep working across restarts. When the stored one cannot
 * be read (another data key), this run uses a temporary token and the stored one is left as it is.
 */
export async function resolveToken(
  config: Pick<Config, 'secretKey'>,
  hubStore: Namespace,
  logger: Logger,
): Promise<{ token: string; source: 'SECRET_KEY' | 'generated' | 'stored' | 'temporary' }> {
  if (config.secretKey) return { token: config.secretKey, source: 'SECRET_KEY' }
  let stored: string | undefined
  try {
    stored = (await hubStore.get(TOKEN_KEY))?.toString('utf8').trim()
  } catch (error) {
    logger.error(
      'The stored access token cannot be read with this data key; using a temporary token for this run',
      { error },
    )
    return { token: newToken(), source: 'temporary' }
  }
  if (stored !== undefined && TOKEN_PATTERN.test(stored)) return { token: stored, source: 'stored' }
  const token = newToken()
  await hubStore.write([[TOKEN_KEY, utf8(token)]])
  return { token, source: 'generated' }
}

function newToken(): string {
  return randomBytes(32).toString('base64url')
}

/**
 * A check of presented tokens against the access token, in constant time: hashing first makes the
 * lengths equal without leaking them. The token's own hash is made once, not per connection.
 */
export function tokenChecker(expected: string): (given: string) => boolean {
  const digest = createHash('sha256').update(expected).digest()
  return (given) => timingSafeEqual(createHash('sha256').update(given).digest(), digest)
}
