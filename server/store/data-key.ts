import { randomBytes } from 'node:crypto'
import { rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from '../logger'
import { readIfExists, syncFolder, writeFileAtomic } from './atomic-file'
import { dataKey, Keyring, KEY_BYTES, type DataKey } from './seal'

/** The headless hub's key file, when DATA_KEY is not set. */
export const KEY_FILE = 'data-key'
/** A rotation writes the new key here first and renames it over KEY_FILE when it is done. */
export const NEXT_KEY_FILE = 'data-key.next'

export interface KeyOptions {
  dataDir: string
  /** DATA_KEY: the key, kept outside DATA_DIR by whoever runs the hub. */
  dataKey?: Buffer
  /** DATA_KEY_PREVIOUS: older keys still accepted for reading (a rotation under way). */
  previousKeys?: readonly Buffer[]
  /** The desktop app's key, unwrapped from the OS keychain. Wins over everything else. */
  hostKey?: Buffer
}

export interface ResolvedKeys {
  keyring: Keyring
  source: 'host' | 'DATA_KEY' | 'key file'
}

/**
 * The data key that seals everything the hub stores: the host's (desktop app), else DATA_KEY,
 * else a key file in DATA_DIR made on first start. The key file sits beside the data it protects,
 * so the hub says so at every start: it guards against a copied sessions folder, not against a
 * copied DATA_DIR.
 */
export async function resolveKeys(options: KeyOptions, logger: Logger): Promise<ResolvedKeys> {
  const previous = (options.previousKeys ?? []).map(dataKey)
  if (options.hostKey)
    return { keyring: new Keyring(dataKey(options.hostKey), previous), source: 'host' }
  if (options.dataKey) {
    return { keyring: new Keyring(dataKey(options.dataKey), previous), source: 'DATA_KEY' }
  }
  const current =
    (await readKeyFile(join(options.dataDir, KEY_FILE))) ?? (await makeKeyFile(options.dataDir))
  const next = await readKeyFile(join(options.dataDir, NEXT_KEY_FILE))
  if (next) {
    logger.warn(
      'A data key rotation was interrupted; run the rotate-key command again to finish it',
    )
  }
  logger.warn(
    'The data key is stored beside the data it protects (DATA_DIR/data-key); set DATA_KEY to keep it elsewhere',
  )
  return {
    keyring: new Keyring(current, [...(next ? [next] : []), ...previous]),
    source: 'key file',
  }
}

/** Parses a key written as base64 (standard or URL-safe); undefined unless it is 32 bytes. */
export function parseKey(text: string): Buffer | undefined {
  const trimmed = text.trim()
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) return undefined
  const key = Buffer.from(
    trimmed,
    trimmed.includes('-') || trimmed.includes('_') ? 'base64url' : 'base64',
  )
  return key.length === KEY_BYTES ? key : undefined
}

export async function readKeyFile(path: string): Promise<DataKey | undefined> {
  const text = await readIfExists(path)
  if (text === undefined) return undefined
  const key = parseKey(text.toString('utf8'))
  if (!key) throw new Error(`${path} does not hold a 32-byte base64 key`)
  return dataKey(key)
}

async function makeKeyFile(dataDir: string): Promise<DataKey> {
  const key = randomBytes(KEY_BYTES)
  await writeFileAtomic(join(dataDir, KEY_FILE), `${key.toString('base64')}\n`)
  return dataKey(key)
}

/** Writes the next key for a rotation (before anything is re-sealed under it). */
export async function writeNextKeyFile(dataDir: string, key: Buffer): Promise<void> {
  await writeFileAtomic(join(dataDir, NEXT_KEY_FILE), `${key.toString('base64')}\n`)
}

/** Ends a rotation: the next key becomes the key. */
export async function promoteNextKeyFile(dataDir: string): Promise<void> {
  await rename(join(dataDir, NEXT_KEY_FILE), join(dataDir, KEY_FILE))
  await syncFolder(dataDir)
}

export async function removeNextKeyFile(dataDir: string): Promise<void> {
  await rm(join(dataDir, NEXT_KEY_FILE), { force: true })
}
