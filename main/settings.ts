import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { z } from 'zod'
import type { Settings } from '../preload/api'
import type { Config } from '../server/config'
import { writeFileAtomic } from '../server/store/atomic-file'

const SETTINGS_FILE = 'settings.json'

export const settingsPatchSchema = z
  .object({
    port: z.number().int().min(1).max(65535),
    host: z
      .string()
      .trim()
      .min(1)
      .max(255)
      .regex(/^[A-Za-z0-9.:[\]-]+$/, 'host must be an address or a name'),
    provider: z.enum(['simulated', 'baileys']),
    closeToTray: z.boolean(),
  })
  .partial()
  .strict()

export interface SettingsStore {
  get(): Settings
  /** Validates, persists atomically, and returns the new settings. */
  set(patch: unknown): Promise<{ settings: Settings; changed: (keyof Settings)[] }>
}

/**
 * Desktop settings in `userData/settings.json`. Defaults come from the environment (so `WS_PORT`
 * still works for the app); saved settings win over them. A damaged file falls back to defaults.
 */
export async function loadSettings(folder: string, defaults: Settings): Promise<SettingsStore> {
  const path = join(folder, SETTINGS_FILE)
  let current: Settings = { ...defaults }
  try {
    const saved = settingsPatchSchema.safeParse(JSON.parse(await readFile(path, 'utf8')))
    if (saved.success) current = { ...defaults, ...saved.data }
  } catch {
    // missing or unreadable: defaults
  }
  let writes = Promise.resolve()

  return {
    get: () => ({ ...current }),
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
      current = next
      const text = `${JSON.stringify(current, null, 2)}\n`
      writes = writes.catch(() => undefined).then(() => writeFileAtomic(path, text))
      await writes
      return { settings: { ...current }, changed }
    },
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
  }
}
