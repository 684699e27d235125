// @vitest-environment node
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { DATA_KEY_FILE, openDataKey } from '../../main/data-key'
import { defaultSettings, loadSettings } from '../../main/settings'
import type { LogEntry } from '../../preload/api'
import type * as HubModule from '../../server/hub'
import type { HubOptions } from '../../server/hub'
import type { Logger } from '../../server/logger'
import { freePort } from '../helpers/hub'
import { fake } from '../mocks/electron'
import { launchApp, launchUntilQuit, quitApp } from './launch'

// Every hub the app builds, with the options it was given: the data key must reach it.
const hubOptions = vi.hoisted(() => [] as HubOptions[])
vi.mock('../../server/hub', async (importOriginal) => {
  const real = await importOriginal<typeof HubModule>()
  return {
    ...real,
    createHub: (...args: Parameters<typeof real.createHub>) => {
      hubOptions.push(args[1])
      return real.createHub(...args)
    },
  }
})

let folder: string
let logged: LogEntry[]

beforeEach(() => {
  fake.reset()
  folder = fake.app.getPath('userData')
  logged = []
  hubOptions.length = 0
  vi.stubEnv('WS_PORT', '0')
  vi.stubEnv('WS_HOST', '127.0.0.1')
})
afterEach(async () => {
  await quitApp()
  vi.unstubAllEnvs()
})

const logger: Logger = Object.fromEntries(
  (['debug', 'info', 'warn', 'error'] as const).map((level) => [
    level,
    (message: string, fields?: Record<string, unknown>) =>
      logged.push({ time: '', level, message, ...(fields ? { fields } : {}) }),
  ]),
) as unknown as Logger

/** One start-up's worth of openDataKey, with the settings file as the place consent is kept. */
async function start() {
  if (!fake.app.isReady()) fake.app._becomeReady()
  const settings = await loadSettings(folder, defaultSettings(undefined))
  const outcome = await openDataKey({
    folder,
    logger,
    consent: {
      accepted: settings.unprotectedDataKeyAccepted,
      accept: settings.acceptUnprotectedDataKey,
    },
  })
  return outcome
}

async function started() {
  const outcome = await start()
  if ('quit' in outcome) throw new Error('the app quit')
  return outcome
}

const keyFile = () => join(folder, DATA_KEY_FILE)
const stored = () => JSON.parse(readFileSync(keyFile(), 'utf8')) as Record<string, string>
const unwrapStored = async () =>
  Buffer.from(
    (await fake.safeStorage.decryptStringAsync(Buffer.from(stored().wrapped!, 'base64'))).result,
    'base64',
  )
const savedSettings = () =>
  JSON.parse(readFileSync(join(folder, 'settings.json'), 'utf8')) as Record<string, unknown>

describe('the data key', () => {
  it('is made on first start: 32 random bytes, wrapped by the OS keystore, in a file only the user can read', async () => {
    const { key, status } = await started()
    expect(key).toHaveLength(32)
    expect(status).toEqual({ protection: 'os', backend: 'gnome_libsecret' })
    expect(fake.messageBoxes).toEqual([])

    const file = stored()
    expect(file).toMatchObject({ version: 1, protection: 'os' })
    expect(readFileSync(keyFile(), 'utf8')).not.toContain(key.toString('base64'))
    expect(await unwrapStored()).toEqual(key)
    expect(statSync(keyFile()).mode & 0o777).toBe(0o600)
    // written atomically: no temp file left beside it
    expect(readdirSync(folder).filter((name) => name.startsWith('.'))).toEqual([])
    expect(logged).toContainEqual(expect.objectContaining({ message: 'Made a new data key' }))
  })

  it('is unwrapped, unchanged, at every later start', async () => {
    const first = await started()
    const file = readFileSync(keyFile(), 'utf8')
    const second = await started()
    const third = await started()
    expect(second.key).toEqual(first.key)
    expect(third.key).toEqual(first.key)
    expect(readFileSync(keyFile(), 'utf8')).toBe(file)
    expect(logged.filter((entry) => entry.message === 'Data key unlocked')).toHaveLength(2)
  })

  it('waits for the app to be ready (before it, safeStorage reports no encryption)', async () => {
    const opening = openDataKey({
      folder,
      logger,
      consent: { accepted: () => true, accept: async () => {} },
    })
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(readdirSync(folder)).not.toContain(DATA_KEY_FILE)
    fake.app._becomeReady()
    expect(await opening).toMatchObject({ status: { protection: 'os' } })
    expect(stored()).toMatchObject({ protection: 'os' })
  })
})

describe('without a keyring (Linux, basic_text)', () => {
  beforeEach(() => {
    fake.safeStorage.backend = 'basic_text'
  })

  it('asks first; Quit (or closing the box) writes nothing and remembers nothing', async () => {
    fake.messageBoxAnswers.push('Quit')
    expect(await start()).toEqual({ quit: true })
    expect(await start()).toEqual({ quit: true }) // dismissed with Esc: the cancel button, Quit
    expect(fake.messageBoxes).toHaveLength(2)
    expect(fake.messageBoxes[0]).toMatchObject({
      type: 'warning',
      message: 'No keyring to protect your WhatsApp credentials',
      buttons: ['Continue without OS protection', 'Quit'],
      detail: expect.stringContaining('fixed, publicly known password'),
    })
    expect(readdirSync(folder)).not.toContain(DATA_KEY_FILE)
    expect(readdirSync(folder)).not.toContain('settings.json')
  })

  it('continues when the user accepts, says so in the log, and does not ask again', async () => {
    fake.messageBoxAnswers.push('Continue without OS protection')
    const first = await started()
    expect(first.status).toEqual({ protection: 'basic_text', backend: 'basic_text' })
    expect(stored()).toMatchObject({ protection: 'basic_text' })
    expect(savedSettings()).toMatchObject({ unprotectedDataKeyAccepted: true })
    expect(logged).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        message: expect.stringContaining('The data key has no OS protection'),
      }),
    )

    const second = await started()
    expect(second.key).toEqual(first.key)
    expect(second.status.protection).toBe('basic_text')
    expect(fake.messageBoxes).toHaveLength(1)
  })

  it('moves the key into the keyring once one is there, keeping the same key', async () => {
    fake.messageBoxAnswers.push('Continue without OS protection')
    const before = await started()
    fake.safeStorage.backend = 'kwallet6'
    const after = await started()
    expect(after.key).toEqual(before.key)
    expect(after.status).toEqual({ protection: 'os', backend: 'kwallet6' })
    expect(stored()).toMatchObject({ protection: 'os' })
    expect(stored().wrapped).toSatisfy((wrapped: string) =>
      Buffer.from(wrapped, 'base64').subarray(0, 3).equals(Buffer.from('v11')),
    )
    expect(await unwrapStored()).toEqual(before.key)
    expect(logged).toContainEqual(
      expect.objectContaining({ message: 'The data key is now protected by the OS keystore' }),
    )
  })

  it('in the app: Quit ends it before any window or hub; Continue runs the hub with the key and tells the window', async () => {
    fake.messageBoxAnswers.push('Quit')
    await launchUntilQuit()
    expect(fake.windows).toHaveLength(0)
    expect(hubOptions).toHaveLength(0)

    fake.reset({ userData: folder })
    fake.safeStorage.backend = 'basic_text'
    fake.messageBoxAnswers.push('Continue without OS protection')
    const { hub } = await launchApp()
    expect(await hub.dataKey.status()).toEqual({ protection: 'basic_text', backend: 'basic_text' })
    expect(hubOptions.at(-1)?.dataKey).toEqual(await unwrapStored())
  })
})

describe('without a keyring, whatever name safeStorage gives the store', () => {
  it('is still recognised by what the fixed password writes (v10), and asks', async () => {
    fake.safeStorage.backend = 'basic_text'
    fake.safeStorage.reportedBackend = ''
    fake.messageBoxAnswers.push('Continue without OS protection')
    const { status } = await started()
    expect(fake.messageBoxes[0]!.message).toBe('No keyring to protect your WhatsApp credentials')
    expect(status).toEqual({ protection: 'basic_text' })
    expect(stored()).toMatchObject({ protection: 'basic_text' })
  })
})

describe('when the OS offers no encryption at all', () => {
  it('asks, and keeps the key readable by the user only', async () => {
    fake.safeStorage.available = false
    fake.messageBoxAnswers.push('Continue without OS protection')
    const { key, status } = await started()
    expect(fake.messageBoxes[0]!.message).toBe(
      'The system offers no encryption for your WhatsApp credentials',
    )
    expect(status.protection).toBe('none')
    expect(stored()).toEqual({ version: 1, protection: 'none', key: key.toString('base64') })
    expect(statSync(keyFile()).mode & 0o777).toBe(0o600)
    expect((await started()).key).toEqual(key)
  })
})

describe('a wrapped key that no longer unwraps', () => {
  it('is reported, and Quit leaves its file exactly as it was', async () => {
    await started()
    const file = readFileSync(keyFile())
    fake.safeStorage._resetKeystore() // the keychain was reset
    fake.messageBoxAnswers.push('Quit')
    expect(await start()).toEqual({ quit: true })
    expect(fake.messageBoxes[0]).toMatchObject({
      type: 'error',
      message: 'The data key cannot be unlocked',
      buttons: ['Try again', 'Start over with a new key', 'Quit'],
      detail: expect.stringContaining(
        'Error while decrypting the ciphertext provided to safeStorage.decryptStringAsync.',
      ),
    })
    expect(logged).toContainEqual(
      expect.objectContaining({
        level: 'error',
        message: 'The data key cannot be unlocked; linked accounts cannot be read',
      }),
    )
    expect(readFileSync(keyFile())).toEqual(file)
    expect(readdirSync(folder).filter((name) => name.startsWith(DATA_KEY_FILE))).toEqual([
      DATA_KEY_FILE,
    ])
  })

  it('opens after Try again once the locked keyring is unlocked', async () => {
    const { key } = await started()
    fake.safeStorage.temporarilyUnavailable = true
    fake.messageBoxAnswers.push(() => {
      fake.safeStorage.temporarilyUnavailable = false // the user unlocks the keyring
      return 'Try again'
    })
    const again = await started()
    expect(again.key).toEqual(key)
    expect(fake.messageBoxes[0]!.detail).toContain('temporarily unavailable')
  })

  it('is replaced only when the user starts over, and its file is kept beside the new one', async () => {
    const { key } = await started()
    const old = readFileSync(keyFile())
    fake.safeStorage._resetKeystore()
    fake.messageBoxAnswers.push('Start over with a new key')
    const { key: fresh, status } = await started()
    expect(fresh).not.toEqual(key)
    expect(await unwrapStored()).toEqual(fresh)
    expect(status.unreadableKeptAs).toMatch(/^data-key\.json\.unreadable-/)
    expect(readFileSync(join(folder, status.unreadableKeptAs!))).toEqual(old)
    expect(logged).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        message: 'Starting over with a new data key; accounts linked before must be relinked',
      }),
    )
  })

  it('a damaged key file is reported the same way and never overwritten', async () => {
    writeFileSync(keyFile(), '{"version":1,"protection":"os","wrapp')
    expect(await start()).toEqual({ quit: true }) // dismissed: Quit
    expect(fake.messageBoxes[0]!.detail).toContain('data-key.json is damaged')
    expect(readFileSync(keyFile(), 'utf8')).toBe('{"version":1,"protection":"os","wrapp')
  })
})

describe('in the app', () => {
  it('the window cannot give the consent to run without OS protection, nor read it', async () => {
    const { hub } = await launchApp()
    await expect(hub.settings.set({ unprotectedDataKeyAccepted: true } as object)).rejects.toThrow(
      /invalid setting/,
    )
    expect(await hub.settings.get()).not.toHaveProperty('unprotectedDataKeyAccepted')
    await quitApp()

    fake.reset({ userData: folder })
    fake.safeStorage.backend = 'basic_text'
    await launchUntilQuit() // asked, and the box dismissed: Quit
    expect(fake.messageBoxes).toHaveLength(1)
  })

  it('hands the same unwrapped key to every hub it builds, across restarts and relaunches', async () => {
    const { hub } = await launchApp()
    expect(await hub.dataKey.status()).toEqual({ protection: 'os', backend: 'gnome_libsecret' })
    const key = await unwrapStored()
    await hub.settings.set({ port: await freePort() }) // a new address: a new hub
    await quitApp()

    fake.reset({ userData: folder })
    await launchApp()
    expect(hubOptions.length).toBeGreaterThanOrEqual(3)
    for (const options of hubOptions) expect(options.dataKey).toEqual(key)
  })
})
