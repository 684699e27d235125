import {
  INITIAL_PREKEY_COUNT,
  type AuthenticationCreds,
  type SignalKeyStore,
} from '@whiskeysockets/baileys'
import {
  TC_TOKEN_INDEX_KEY,
  isTcTokenExpired,
} from '@whiskeysockets/baileys/lib/Utils/tc-token-utils.js'
import type { Namespace } from '../store/store'
import { authKey } from './baileys-auth-store'

/** Where the upkeep keeps its own notes in the credential namespace. */
export const UPKEEP_KEY = 'upkeep'
/** How often an account's credential store is measured and pruned (at a reconnect, when due). */
export const UPKEEP_EVERY_MS = 24 * 3600_000

/**
 * Pre-keys are kept unless they are both among the oldest (more than twice Baileys' initial
 * upload below the counter) and minted more than PRE_KEY_MIN_AGE_MS ago.
 */
export const PRE_KEYS_KEPT_NEWEST = 2 * INITIAL_PREKEY_COUNT
export const PRE_KEY_MIN_AGE_MS = 30 * 86_400_000
/** Counter readings kept: one a day at most, back to the newest one older than the minimum age. */
const MARK_EVERY_MS = 86_400_000
/** Deletions per store write, so one write never carries tens of thousands of files. */
const DELETE_BATCH = 1000

interface Mark {
  at: number
  nextPreKeyId: number
}

export interface UpkeepResult {
  entries: number
  bytes: number
  pruned: { preKeys: number; tcTokens: number }
}

/**
 * Keeps an account's credential store from growing without bound (Baileys #2797: every pre-key
 * top-up mints new keys, utils/signal.js:171-180, and unconsumed ones are never deleted), deleting
 * only what Baileys can no longer use, then measures it. Runs between sockets (never beside a live
 * one), deleting through the account's key store so its cache sees it.
 *
 * - Pre-keys: a peer reads one of ours from the server and starts a session with it; its first
 *   message names the id, and libsignal deletes the key once used (session_cipher.js:209-211).
 *   Which keys the server still hands out is not visible here, and a peer's message may wait in
 *   WhatsApp's offline queue. So a key goes only when it is not among the newest
 *   PRE_KEYS_KEPT_NEWEST (the server's stock is at most one upload of INITIAL_PREKEY_COUNT plus
 *   top-ups of MIN_PREKEY_COUNT, socket.js:409-440) and was minted more than PRE_KEY_MIN_AGE_MS
 *   ago, which the counter readings kept under UPKEEP_KEY prove (ids only grow). The current key
 *   (`nextPreKeyId - 1`, checked at each login, socket.js:400-408) is always among the newest.
 * - Trust tokens: Baileys drops those past their ~28-day window itself, but only when the account
 *   goes online (messages-recv.js:1680-1688), which this hub never does (`markOnlineOnConnect:
 *   false`). The same rule is applied here (`pruneExpiredTcTokens`, messages-recv.js:1701-1755).
 */
export async function upkeepCredentials(options: {
  store: Namespace
  keys: SignalKeyStore
  creds: AuthenticationCreds
  now?: number
}): Promise<UpkeepResult> {
  const { store, keys, creds } = options
  const now = options.now ?? Date.now()
  const marks = await recordMark(store, creds.nextPreKeyId, now)
  const preKeys = await prunePreKeys(store, keys, creds.nextPreKeyId, marks, now)
  const tcTokens = await pruneTcTokens(keys)
  const { entries, bytes } = await store.usage()
  return { entries, bytes, pruned: { preKeys, tcTokens } }
}

async function recordMark(store: Namespace, nextPreKeyId: number, now: number): Promise<Mark[]> {
  let marks: Mark[] = []
  const value = await store.get(UPKEEP_KEY)
  if (value) {
    try {
      const parsed = (JSON.parse(value.toString('utf8')) as { marks?: unknown }).marks
      if (Array.isArray(parsed)) marks = parsed.filter(isMark)
    } catch {
      // Unreadable notes only delay pruning: readings start again from now.
    }
  }
  marks.sort((a, b) => a.at - b.at)
  const last = marks.at(-1)
  if (!last || now - last.at >= MARK_EVERY_MS) marks.push({ at: now, nextPreKeyId })
  // Readings older than the newest one past the minimum age are never needed again.
  const cutoff = marks.findLastIndex((mark) => mark.at <= now - PRE_KEY_MIN_AGE_MS)
  if (cutoff > 0) marks = marks.slice(cutoff)
  await store.write([[UPKEEP_KEY, Buffer.from(JSON.stringify({ marks }), 'utf8')]])
  return marks
}

function isMark(value: unknown): value is Mark {
  const mark = value as Partial<Mark> | null
  return typeof mark?.at === 'number' && Number.isInteger(mark.nextPreKeyId)
}

async function prunePreKeys(
  store: Namespace,
  keys: SignalKeyStore,
  nextPreKeyId: number,
  marks: Mark[],
  now: number,
): Promise<number> {
  const old = marks.findLast((mark) => mark.at <= now - PRE_KEY_MIN_AGE_MS)
  if (!old) return 0
  const below = Math.min(old.nextPreKeyId, nextPreKeyId - PRE_KEYS_KEPT_NEWEST)
  const prefix = authKey('pre-key', '')
  const ids = (await store.keys(prefix))
    .map((key) => key.slice(prefix.length))
    .filter((id) => /^\d+$/.test(id) && Number(id) < below)
  for (let i = 0; i < ids.length; i += DELETE_BATCH) {
    const batch = ids.slice(i, i + DELETE_BATCH)
    await keys.set({ 'pre-key': Object.fromEntries(batch.map((id) => [id, null])) })
  }
  return ids.length
}

async function pruneTcTokens(keys: SignalKeyStore): Promise<number> {
  const { [TC_TOKEN_INDEX_KEY]: index } = await keys.get('tctoken', [TC_TOKEN_INDEX_KEY])
  let jids: string[] = []
  try {
    const parsed: unknown = index?.token?.length
      ? JSON.parse(Buffer.from(index.token).toString())
      : []
    if (Array.isArray(parsed)) {
      jids = parsed.filter(
        (jid): jid is string => typeof jid === 'string' && jid !== TC_TOKEN_INDEX_KEY,
      )
    }
  } catch {
    return 0
  }
  if (jids.length === 0) return 0
  const tokens = await keys.get('tctoken', jids)
  const writes: Record<string, { token: Buffer; senderTimestamp?: number } | null> = {}
  const survivors: string[] = []
  let deleted = 0
  for (const jid of jids) {
    const entry = tokens[jid]
    const hasPeerToken = Boolean(entry?.token?.length)
    const peerExpired = hasPeerToken && isTcTokenExpired(entry?.timestamp)
    const hasSenderTs = entry?.senderTimestamp !== undefined
    const keepPeer = hasPeerToken && !peerExpired
    const keepSender = hasSenderTs && !isTcTokenExpired(entry?.senderTimestamp)
    if (!entry || (!keepPeer && !keepSender)) {
      if (entry) {
        writes[jid] = null
        deleted += 1
      }
      continue
    }
    if (peerExpired && keepSender) {
      writes[jid] = { token: Buffer.alloc(0), senderTimestamp: entry.senderTimestamp }
    }
    survivors.push(jid)
  }
  if (survivors.length === jids.length && Object.keys(writes).length === 0) return 0
  await keys.set({
    tctoken: {
      ...writes,
      [TC_TOKEN_INDEX_KEY]: { token: Buffer.from(JSON.stringify(survivors)) },
    },
  })
  return deleted
}
