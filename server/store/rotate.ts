import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import type { Logger } from '../logger'
import {
  KEY_FILE,
  promoteNextKeyFile,
  readKeyFile,
  writeNextKeyFile,
  NEXT_KEY_FILE,
} from './data-key'
import { FileStore } from './file-store'
import { migrateLegacyData } from './legacy'
import {
  accountPlace,
  dataKey,
  hubPlace,
  Keyring,
  KEY_BYTES,
  sealStore,
  type DataKey,
} from './seal'
import type { Namespace } from './store'

export interface RotateOptions {
  dataDir: string
  /** DATA_KEY, when the key is kept outside DATA_DIR; absent: the key file. */
  dataKey?: Buffer
  /** DATA_KEY_NEW: the key to move to; with the key file, made at random when absent. */
  newKey?: Buffer
  previousKeys?: readonly Buffer[]
}

export interface RotateResult {
  resealed: number
  total: number
  keyId: string
  /** Where the new key is: the key file, or DATA_KEY_NEW for the operator to install. */
  keptIn: 'key file' | 'DATA_KEY_NEW'
}

/**
 * Seals everything in DATA_DIR under a new data key, value by value, each write atomic. Until it
 * finishes both keys open the data (every value names the key that sealed it), so a crash at any
 * point loses nothing: run it again and it carries on. With the key file, the new key waits in
 * `data-key.next` and replaces `data-key` only once every value is sealed with it.
 */
export async function rotateDataKey(options: RotateOptions, logger: Logger): Promise<RotateResult> {
  const raw = await FileStore.open(options.dataDir, logger, { exclusive: true })
  try {
    const previous = (options.previousKeys ?? []).map(dataKey)
    let current: DataKey
    let next: DataKey
    if (options.dataKey) {
      if (!options.newKey) throw new Error('set DATA_KEY_NEW to the key to rotate to')
      current = dataKey(options.dataKey)
      next = dataKey(options.newKey)
    } else {
      const stored = await readKeyFile(join(options.dataDir, KEY_FILE))
      if (!stored) throw new Error(`there is no ${KEY_FILE} in ${options.dataDir} to rotate`)
      current = stored
      const pending = await readKeyFile(join(options.dataDir, NEXT_KEY_FILE))
      if (pending && options.newKey && !pending.key.equals(options.newKey)) {
        throw new Error(
          'a rotation to another key is under way; run rotate-key without DATA_KEY_NEW to finish it',
        )
      }
      next = pending ?? dataKey(options.newKey ?? randomBytes(KEY_BYTES))
      if (!pending) await writeNextKeyFile(options.dataDir, next.key)
    }
    // Data from earlier versions moves in first, sealed with the key it will leave.
    await migrateLegacyData(options.dataDir, sealStore(raw, new Keyring(current, previous)), logger)
    const keyring = new Keyring(next, [current, ...previous])
    let total = 0
    let resealed = 0
    const reseal = async (ns: Namespace, place: (key: string) => string) => {
      for (const key of await ns.keys()) {
        const sealed = await ns.get(key)
        if (sealed === undefined) continue
        total += 1
        if (keyring.keyIdOf(sealed) === next.id) continue
        const value = keyring.unseal(sealed, place(key))
        await ns.write([[key, keyring.seal(value, place(key))]])
        resealed += 1
      }
    }
    await reseal(raw.hub, hubPlace)
    for (const id of await raw.accountIds()) {
      await reseal(raw.account(id), (key) => accountPlace(id, key))
    }
    if (!options.dataKey) await promoteNextKeyFile(options.dataDir)
    logger.info('Data key rotated', { resealed, total, key_id: next.id })
    return {
      resealed,
      total,
      keyId: next.id,
      keptIn: options.dataKey ? 'DATA_KEY_NEW' : 'key file',
    }
  } finally {
    await raw.close()
  }
}
