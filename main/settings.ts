import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { z } from 'zod'
import type { Settings } from '../preload/api'
import type { Config } from '../server/config'
import { writeFileAtomic } from '../server/store/atomic-file'

const SETTINGS_FILE = 'settings.json'

const settingsFields = z.object({
  port: z.number().int().min(1).max(65535),
  host: z
    .string()
    .trim()
    .min(1)
    .max(255)
    .regex(/^[A-Za-z0-9.:[\]-]+$/, 'host must be an address or a name'),
  provider: z.enum(['simulated', 'baileys']),
  closeToTray: z.boolean(),
  notifications: z.boolean(),
})

/** What the window may change. */
export const settingsPatchSchema = settingsFields.partial().strict()

/** The file also keeps choices only main makes, from its own dialogs: never set from the window. */
const savedSchema = settingsFields
  .extend({ unprotectedDataKeyAccepted: z.boolean() })
  .partial()
  .strict()
type Saved = Settings & { unprotectedDataKeyAccepted?: boolean }

export interface SettingsStore {
  get(): Settings
  /** Validates, persists atomically, and returns the new settings. */
  set(patch: unknown): Promise<{ settings: Settings; changed: (keyof Settings)[] }>
  /** The user chose to keep the data key without OS protection (main's dialog, remembered). */
  unprotectedDataKeyAccepted(): boolean
  acceptUnprotectedDataKey(): Promise<void>
}

/**
 * Desktop settings in `userData/settings.json`. Defaults come from the environment (so `WS_PORT`
 * still works for the app); saved settings win over them. A damaged file falls back to defaults.
 */
export async function loadSettings(folder: string, defaults: Settings): Promise<SettingsStore> {
  const path = join(folder, SETTINGS_FILE)
  let current: Saved = { ...defaults }
  try {
    const saved = savedSchema.safeParse(JSON.parse(await readFile(path, 'utf8')))
    if (saved.success) current = { ...defaults, ...saved.data }
  } catch {
    // missing or unreadable: defaults
  }
  let writes = Promise.resolve()
  const save = async (next: Saved) => {
    current = next
    const text = `${JSON.stringify(current, null, 2)}\n`
    writes = writes.catch(() => undefined).then(() => writeFileAtomic(path, text))
    await writes
  }
  const visible = (): Settings => {
    const { unprotectedDataKeyAccepted: _, ...settings } = current
    return settings
  }

  return {
    get: visible,
    async set(patch) {
      const result = settingsPatchSchema.safeParse(patch)
      if (!result.success) {
        const issue = result.error.issues[0]
        throw new Error(
          `invalid setting ${issue?.path.join('.') || ''}: ${issue?.message ?? 'bad value'}`,
        )
      }
      const parsed = result.data
      const next = { ...current, ...parsed }
      const changed = (Object.keys(parsed) as (keyof Settings)[]).filter(
        (key) => next[key] !== current[key],
      )
      await save(next)
      return { settings: visible(), changed }
    },
    unprotectedDataKeyAccepted: () => current.unprotectedDataKeyAccepted === true,
    acceptUnprotectedDataKey: () => save({ ...current, unprotectedDataKeyAccepted: true }),
  }
}

/**
 * Settings before the user changed any: from the environment's config when it is valid, else the
 * defaults (a bad value is reported by the hub host, which parses the environment with the settings).
 */
export function defaultSettings(config: Config | undefined): Settings {
  return {
    port: config?.port ?? 5001,
    host: config?.host ?? '0.0.0.0',
    provider: config?.provider ?? 'simulated',
    closeToTray: true,
    notifications: true,
  }
}
