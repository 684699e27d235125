/**
 * The data key: 32 random bytes with which the hub seals (AES-256-GCM) every file holding
 * WhatsApp credentials, session records or the access token. Made on first start, it is kept in
 * `userData/data-key.json` wrapped by Electron's safeStorage, that is by the OS keystore (Keychain,
 * DPAPI, libsecret/KWallet), and unwrapped at each start for the hub.
 *
 * Two things need the user: a machine whose keystore gives no real protection (Linux without a
 * keyring) runs only once they accept it, a choice remembered in settings; and a wrapped key that
 * no longer unwraps (the keychain was reset) is never replaced behind their back — they retry,
 * start over with a new key (the old file is kept beside it), or quit.
 */
import { app, dialog, safeStorage } from 'electron'
import { randomBytes } from 'node:crypto'
import { rename } from 'node:fs/promises'
import { join } from 'node:path'
import { z } from 'zod'
import type { DataKeyStatus } from '../preload/api'
import type { Logger } from '../server/logger'
import { readIfExists, writeFileAtomic } from '../server/store/atomic-file'
import { parseKey } from '../server/store/data-key'
import { KEY_BYTES } from '../server/store/seal'

export const DATA_KEY_FILE = 'data-key.json'

type Protection = DataKeyStatus['protection']

const storedSchema = z.discriminatedUnion('protection', [
  z.object({
    version: z.literal(1),
    protection: z.enum(['os', 'basic_text']),
    /** safeStorage's ciphertext of the key in base64, itself in base64. */
    wrapped: z.base64(),
  }),
  z.object({ version: z.literal(1), protection: z.literal('none'), key: z.base64() }),
])
type Stored = z.infer<typeof storedSchema>

export interface DataKeyOptions {
  /** The app's userData folder. */
  folder: string
  logger: Logger
  /** Where the choice to run without OS protection is remembered. */
  consent: { accepted(): boolean; accept(): Promise<void> }
}

export type DataKeyOutcome = { key: Buffer; status: DataKeyStatus } | { quit: true }

/** What the OS offers this run; `protection` is what a key wrapped now would get. */
interface Keystore {
  protection: Protection
  backend?: string
}

/** Opens (or makes, on first start) the data key. */
export async function openDataKey(options: DataKeyOptions): Promise<DataKeyOutcome> {
  const { folder, logger } = options
  const path = join(folder, DATA_KEY_FILE)
  // Before `ready` safeStorage says encryption is unavailable: a key made then would go unwrapped.
  await app.whenReady()
  const keystore = await probeKeystore()
  let unreadableKeptAs: string | undefined
  let opened: { key: Buffer; stored: Stored; rewrap: boolean } | undefined

  for (;;) {
    try {
      const stored = await readStored(path)
      if (stored) opened = { stored, ...(await unwrap(stored)) }
      break
    } catch (error) {
      const reason = (error as Error).message
      logger.error('The data key cannot be unlocked; linked accounts cannot be read', {
        file: path,
        reason,
      })
      const choice = await askAboutUnreadableKey(reason)
      if (choice === 'quit') return { quit: true }
      if (choice === 'retry') continue
      unreadableKeptAs = await setAside(folder)
      logger.warn('Starting over with a new data key; accounts linked before must be relinked', {
        kept_as: unreadableKeptAs,
      })
      break
    }
  }

  const key = opened?.key ?? randomBytes(KEY_BYTES)
  const upgrade = opened !== undefined && rank(keystore.protection) > rank(opened.stored.protection)
  const write = !opened || opened.rewrap || upgrade
  const protection = opened && !write ? opened.stored.protection : keystore.protection
  // A key kept where the OS does not protect it needs the user's yes, once.
  if (protection !== 'os' && !options.consent.accepted()) {
    if (!(await askToContinueWithoutKeystore(keystore))) return { quit: true }
    await options.consent.accept()
  }
  if (write) await writeFileAtomic(path, await wrap(key, keystore))
  if (upgrade)
    logger.info('The data key is now protected by the OS keystore', { backend: keystore.backend })

  const status: DataKeyStatus = {
    protection,
    ...(keystore.backend ? { backend: keystore.backend } : {}),
    ...(unreadableKeptAs ? { unreadableKeptAs } : {}),
  }
  if (protection === 'os')
    logger.info(opened ? 'Data key unlocked' : 'Made a new data key', { backend: keystore.backend })
  else
    logger.warn(
      'The data key has no OS protection: anyone who can read its file can read the credentials',
      { protection, backend: keystore.backend, file: path },
    )
  return { key, status }
}

async function probeKeystore(): Promise<Keystore> {
  if (!(await safeStorage.isAsyncEncryptionAvailable())) return { protection: 'none' }
  if (process.platform !== 'linux') return { protection: 'os' }
  // Linux only (elsewhere Electron has no such method): basic_text means no keyring was found and
  // safeStorage falls back to Chromium's fixed password (Electron's safeStorage docs). Chromium
  // also marks what that password sealed with `v10` (a keyring's key writes `v11`): checked as
  // well, as Electron's newer source names the backend only once its synchronous API has run.
  const backend = safeStorage.getSelectedStorageBackend()
  const sample = await safeStorage.encryptStringAsync('probe')
  const fixedPassword = backend === 'basic_text' || sample.subarray(0, 3).toString() === 'v10'
  return { protection: fixedPassword ? 'basic_text' : 'os', ...(backend ? { backend } : {}) }
}

const rank = (protection: Protection) => ['none', 'basic_text', 'os'].indexOf(protection)

async function readStored(path: string): Promise<Stored | undefined> {
  const text = await readIfExists(path)
  if (text === undefined) return undefined
  try {
    return storedSchema.parse(JSON.parse(text.toString('utf8')))
  } catch {
    // Reported like a key that does not unwrap, and never overwritten.
    throw new Error(`${DATA_KEY_FILE} is damaged`)
  }
}

async function unwrap(stored: Stored): Promise<{ key: Buffer; rewrap: boolean }> {
  if (stored.protection === 'none') return { key: checkedKey(stored.key), rewrap: false }
  const { result, shouldReEncrypt } = await safeStorage.decryptStringAsync(
    Buffer.from(stored.wrapped, 'base64'),
  )
  // safeStorage rotated its key, or a better one is there now: wrap again with the current one.
  return { key: checkedKey(result), rewrap: shouldReEncrypt }
}

function checkedKey(base64: string): Buffer {
  const key = parseKey(base64)
  if (!key) throw new Error(`the stored key is not ${KEY_BYTES} bytes of base64`)
  return key
}

async function wrap(key: Buffer, keystore: Keystore): Promise<string> {
  const stored: Stored =
    keystore.protection === 'none'
      ? { version: 1, protection: 'none', key: key.toString('base64') }
      : {
          version: 1,
          protection: keystore.protection,
          wrapped: (await safeStorage.encryptStringAsync(key.toString('base64'))).toString(
            'base64',
          ),
        }
  return `${JSON.stringify(stored, null, 2)}\n`
}

/** Keeps the unreadable file beside the new one: a keychain that comes back can still open it. */
async function setAside(folder: string): Promise<string> {
  const name = `${DATA_KEY_FILE}.unreadable-${new Date().toISOString().replace(/[:.]/g, '-')}`
  await rename(join(folder, DATA_KEY_FILE), join(folder, name))
  return name
}

const RETRY = 'Try again'
const START_OVER = 'Start over with a new key'
const QUIT = 'Quit'

async function askAboutUnreadableKey(reason: string): Promise<'retry' | 'new' | 'quit'> {
  const buttons = [RETRY, START_OVER, QUIT]
  const { response } = await dialog.showMessageBox({
    type: 'error',
    title: 'WA Link Hub',
    message: 'The data key cannot be unlocked',
    detail:
      `WA Link Hub keeps the key that encrypts your linked accounts in the system keychain, and ` +
      `the keychain did not give it back (${reason}).\n\n` +
      `If the keychain is locked, unlock it and choose ${RETRY}. If it was reset, the key is ` +
      `gone: ${START_OVER} makes a new one (the old key file is kept), and every account must be ` +
      `linked again. ${QUIT} changes nothing.`,
    buttons,
    defaultId: 0,
    cancelId: 2,
  })
  return (['retry', 'new', 'quit'] as const)[response] ?? 'quit'
}

const CONTINUE = 'Continue without OS protection'

async function askToContinueWithoutKeystore(keystore: Keystore): Promise<boolean> {
  const buttons = [CONTINUE, QUIT]
  const { response } = await dialog.showMessageBox({
    type: 'warning',
    title: 'WA Link Hub',
    message:
      keystore.protection === 'basic_text'
        ? 'No keyring to protect your WhatsApp credentials'
        : 'The system offers no encryption for your WhatsApp credentials',
    detail:
      `WA Link Hub encrypts linked accounts' credentials, sessions and its access token with a ` +
      `key it keeps in the system keyring. ` +
      (keystore.protection === 'basic_text'
        ? `No keyring (GNOME Keyring, KWallet) is available, so that key would be stored under a ` +
          `fixed, publicly known password.`
        : `This system offers no way to protect that key, so it would be stored as it is.`) +
      ` Anyone who can read your files could then read the credentials.\n\n` +
      `To protect it, install or unlock a keyring and start WA Link Hub again; once one is ` +
      `available the key moves into it. Your choice is remembered.`,
    buttons,
    defaultId: 1,
    cancelId: 1,
  })
  return response === 0
}
