import { io, type Socket } from 'socket.io-client'
import type { StatsBody } from '../../server/protocol'
import { startChildHub, type ChildHub } from './child-hub'
import { tempDir, TEST_TOKEN } from './hub'
import type { TestRedis } from './redis'

export const FLEET_KEY = Buffer.alloc(32, 0x5f).toString('base64')

export interface FleetHub extends ChildHub {
  name: string
  /** GET with the token; JSON. */
  get<T>(path: string): Promise<T>
  post(path: string, body: unknown): Promise<Response>
}

/** A hub of the fleet in its own process, as `npm run serve` with REDIS_URL starts it. */
export async function startFleetHub(
  redis: TestRedis,
  name: string,
  env: Record<string, string> = {},
): Promise<FleetHub> {
  const hub = await startChildHub({
    REDIS_URL: redis.url,
    INSTANCE_ID: name,
    SECRET_KEY: TEST_TOKEN,
    DATA_KEY: FLEET_KEY,
    DATA_DIR: await tempDir(),
    LEASE_TTL_MS: '2000',
    RATE_LIMIT_PER_S: '1000',
    RATE_LIMIT_BURST: '1000',
    ...env,
  })
  const headers = { Authorization: `Bearer ${TEST_TOKEN}` }
  return {
    ...hub,
    name,
    async get<T>(path: string) {
      return (await (await fetch(`${hub.url}${path}`, { headers })).json()) as T
    },
    post: (path, body) =>
      fetch(`${hub.url}${path}`, {
        method: 'POST',
        headers: { ...headers, 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      }),
  }
}

/** Sessions each hub owns, by name, from any hub's /stats. */
export async function ownedBy(hub: FleetHub): Promise<Record<string, number>> {
  const stats = await hub.get<StatsBody>('/stats')
  return Object.fromEntries((stats.fleet?.instances ?? []).map((i) => [i.instance, i.owned]))
}

/** A client as the docs show it: default transports, the token in `auth`. */
export async function fleetClient(hub: FleetHub, sockets: Socket[]): Promise<Socket> {
  const socket = io(hub.url, { auth: { token: TEST_TOKEN }, reconnection: false })
  sockets.push(socket)
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve())
    socket.once('connect_error', reject)
  })
  return socket
}

/** Polls until `check` passes (returns its value) or `timeoutMs` passes (throws its last error). */
export async function eventually<T>(check: () => Promise<T>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < deadline) {
    try {
      return await check()
    } catch (error) {
      last = error
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw last
}
