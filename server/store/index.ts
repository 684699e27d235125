import type { Config } from '../config'
import type { Logger } from '../logger'
import { resolveKeys } from './data-key'
import { FileStore } from './file-store'
import { migrateLegacyData } from './legacy'
import { sealStore } from './seal'
import type { Store } from './store'

export interface OpenStoreOptions {
  /** The desktop app's data key (from the OS keychain). */
  hostKey?: Buffer
  /** Take DATA_DIR for this process until the store is closed (what a hub does). */
  exclusive?: boolean
}

/**
 * Opens the hub's store: files in DATA_DIR, every value sealed with the data key, and data left in
 * plain files by earlier versions moved in (encrypted) before anything reads it.
 */
export async function openStore(
  config: Pick<Config, 'dataDir' | 'dataKey' | 'dataKeyPrevious'>,
  logger: Logger,
  options: OpenStoreOptions = {},
): Promise<Store> {
  const raw = await FileStore.open(config.dataDir, logger, { exclusive: options.exclusive })
  try {
    const { keyring } = await resolveKeys(
      {
        dataDir: config.dataDir,
        dataKey: config.dataKey,
        previousKeys: config.dataKeyPrevious,
        hostKey: options.hostKey,
      },
      logger,
    )
    const store = sealStore(raw, keyring)
    await migrateLegacyData(config.dataDir, store, logger)
    return store
  } catch (error) {
    await raw.close()
    throw error
  }
}
