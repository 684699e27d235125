import { encodeName } from './names'

/**
 * Where the fleet keeps things in Redis. Account ids and value keys are encoded as on disk
 * (lower-case base32), so key names show no account ids or phone numbers either.
 */
export const PREFIX = 'walh:'

export const redisKeys = {
  /** Hash of the hub-wide values. */
  hub: `${PREFIX}hub`,
  /** Set of the (encoded) ids of accounts with stored data. */
  accounts: `${PREFIX}accounts`,
  /** Hash of one account's values: field = encoded key, value = sealed bytes. */
  account: (id: string) => `${PREFIX}acct:${encodeName(id)}`,
  /** The account's owner: `<instance>|<fencing token>`, with a TTL. */
  lease: (id: string) => `${PREFIX}lease:${encodeName(id)}`,
  /** Who took the account's lease last (no TTL): a lapsed lease nobody took since is renewable. */
  holder: (id: string) => `${PREFIX}holder:${encodeName(id)}`,
  /** One counter for every lease ever taken: each lease gets a token no other lease had. */
  fence: `${PREFIX}fence`,
  /** Hash of every session's last status: field = encoded id, value = sealed JSON. */
  status: `${PREFIX}status`,
  /** Set of live instance ids, and each one's heartbeat hash (with a TTL). */
  instances: `${PREFIX}instances`,
  instance: (id: string) => `${PREFIX}instance:${encodeName(id)}`,
  /** Pub/sub: commands for one instance, and the answers to them. */
  rpc: (instance: string) => `${PREFIX}rpc:${encodeName(instance)}`,
  /** Pub/sub: an instance gave leases up (graceful stop): others take them now. */
  released: `${PREFIX}released`,
  /** The Socket.IO adapter's stream and channels. */
  socketIo: `${PREFIX}socket.io`,
}
