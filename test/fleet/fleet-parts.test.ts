import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import type { ConfigError } from '../../server/config'
import { loadConfig } from '../../server/config'
import { Leases } from '../../server/fleet/leases'
import { connectRedis, type FleetRedis } from '../../server/fleet/redis'
import { silentLogger } from '../../server/logger'
import { redisKeys } from '../../server/store/redis-keys'
import { FencedError, RedisStore, StoreBackloggedError } from '../../server/store/redis-store'
import { Rpc } from '../../server/fleet/rpc'
import { dataKey, Keyring, sealStore } from '../../server/store/seal'
import { builtEntry } from '../helpers/child-hub'
import { eventually, fleetClient, startFleetHub, type FleetHub } from '../helpers/fleet'
import { freePort, nextEvent, TEST_TOKEN } from '../helpers/hub'
import { startRedis, type TestRedis } from '../helpers/redis'
import type { Socket } from 'socket.io-client'
import type { QrCodeEvent } from '../../server/protocol'

const root = fileURLToPath(new URL('../..', import.meta.url))
let redis: TestRedis | undefined
const connections: FleetRedis[] = []
const hubs: FleetHub[] = []
const sockets: Socket[] = []
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.close()
  for (const hub of hubs.splice(0)) {
    hub.child.kill('SIGCONT')
    hub.child.kill('SIGKILL')
  }
  for (const connection of connections.splice(0)) await connection.close()
  await redis?.stop()
  redis = undefined
})

async function connect(): Promise<FleetRedis> {
  redis ??= await startRedis()
  const connection = await connectRedis(redis.url, silentLogger)
  connections.push(connection)
  return connection
}

function leases(connection: FleetRedis, instanceId: string, lost: string[] = [], ttlMs = 1000) {
  return new Leases({
    redis: connection,
    instanceId,
    ttlMs,
    logger: silentLogger,
    onLost: (id) => lost.push(id),
  })
}

describe('leases', () => {
  it('one holder at a time; a lapsed lease nobody took is renewed with the same token', async () => {
    const connection = await connect()
    const one = leases(connection, 'one')
    const two = leases(connection, 'two')
    expect(await one.claim('s')).toBe(true)
    expect(await two.claim('s')).toBe(false)
    expect(await two.ownerOf('s')).toBe('one')
    const token = one.fence('s')
    expect(token).toMatch(/^one\|\d+$/)
    // Lapsed (Redis dropped it, say after a restart) but nobody took it since: still one's.
    await connection.quick.del(redisKeys.lease('s'))
    await one.renew()
    expect(one.fence('s')).toBe(token)
    expect(await two.ownerOf('s')).toBe('one')
  })

  it('reports a lease someone else took, and never writes for it again', async () => {
    const connection = await connect()
    const lost: string[] = []
    const one = leases(connection, 'one', lost)
    const two = leases(connection, 'two')
    await one.claim('s')
    await connection.quick.del(redisKeys.lease('s'))
    expect(await two.claim('s')).toBe(true)
    await one.renew()
    expect(lost).toEqual(['s'])
    expect(one.mayAct('s')).toBe(false)
    expect(one.fence('s')).toBeUndefined()
    expect(two.fence('s')).not.toBe(undefined)
  })

  it('does not act once it has gone a lease without Redis confirming it (a pause)', async () => {
    const connection = await connect()
    let now = 0
    const one = new Leases({
      redis: connection,
      instanceId: 'one',
      ttlMs: 1000,
      logger: silentLogger,
      onLost: () => undefined,
      now: () => now,
    })
    await one.claim('s')
    now = 999
    expect(one.mayAct('s')).toBe(true)
    now = 1000
    expect(one.mayAct('s')).toBe(false)
    await one.renew()
    expect(one.mayAct('s')).toBe(true)
  })
})

describe('the Redis store', () => {
  it('writes only for the lease holder: a paused owner cannot write over its successor', async () => {
    const connection = await connect()
    const lost: string[] = []
    const one = leases(connection, 'one', lost)
    const two = leases(connection, 'two')
    const ring = new Keyring(dataKey(Buffer.alloc(32, 3)))
    const storeOne = sealStore(
      new RedisStore(connection.durable, { fence: (id) => one.fence(id) }),
      ring,
    )
    const storeTwo = sealStore(
      new RedisStore(connection.durable, { fence: (id) => two.fence(id) }),
      ring,
    )
    await expect(storeOne.account('acct').write([['k', Buffer.from('x')]])).rejects.toBeInstanceOf(
      FencedError,
    )
    await one.claim('acct')
    await storeOne.account('acct').write([['k', Buffer.from('from one')]])
    // One's lease lapses and two takes it; one still believes it owns the account.
    const staleFence = one.fence('acct')!
    await connection.quick.del(redisKeys.lease('acct'))
    await two.claim('acct')
    const stale = sealStore(new RedisStore(connection.durable, { fence: () => staleFence }), ring)
    await expect(stale.account('acct').write([['k', Buffer.from('late')]])).rejects.toBeInstanceOf(
      FencedError,
    )
    await expect(stale.removeAccount('acct')).rejects.toBeInstanceOf(FencedError)
    await storeTwo.account('acct').write([['k', Buffer.from('from two')]])
    expect((await storeTwo.account('acct').get('k'))?.toString()).toBe('from two')
    expect(await storeTwo.accountIds()).toEqual(['acct'])
  })

  it('applies a batch at once, keeps accounts apart, and removes an account whole', async () => {
    const connection = await connect()
    const store = new RedisStore(connection.durable)
    const account = store.account('a')
    await account.write([
      ['x', Buffer.from('1')],
      ['y', Buffer.from('22')],
    ])
    await store.account('b').write([['x', Buffer.from('other')]])
    expect((await account.keys()).sort()).toEqual(['x', 'y'])
    expect(await account.usage()).toEqual({ entries: 2, bytes: 3 })
    const many = await account.getMany(['x', 'y', 'z'])
    expect([...many.keys()].sort()).toEqual(['x', 'y'])
    await account.write([['x', null]])
    expect(await account.keys()).toEqual(['y'])
    await store.removeAccount('a')
    expect(await store.accountIds()).toEqual(['b'])
    // A handle from before the removal writes nothing.
    await account.write([['x', Buffer.from('late')]])
    expect(await store.accountIds()).toEqual(['b'])
  })

  it('keeps nothing in plain text: no account id, key or value shows in Redis', async () => {
    const connection = await connect()
    const marker = `Zq${Date.now().toString(36)}Mark`
    const store = sealStore(
      new RedisStore(connection.durable),
      new Keyring(dataKey(Buffer.alloc(32, 4))),
    )
    await store.account(`${marker}-id`).write([[`p/${marker}`, Buffer.from(`{"n":"${marker}"}`)]])
    const keys = await connection.quick.keys('*')
    const dump: string[] = [...keys]
    for (const key of keys) {
      const type = await connection.quick.type(key)
      if (type === 'hash') {
        for (const [field, value] of Object.entries(await connection.quick.hgetallBuffer(key))) {
          dump.push(field, value.toString('latin1'))
        }
      } else if (type === 'set') dump.push(...(await connection.quick.smembers(key)))
      else if (type === 'string')
        dump.push((await connection.quick.getBuffer(key))!.toString('latin1'))
    }
    for (const text of dump) expect(text.toLowerCase()).not.toContain(marker.toLowerCase())
  })
})

describe('what waits for Redis or another hub is bounded', () => {
  it('refuses store writes past STORE_WRITES_WAITING_MAX while Redis is away, keeps the others', async () => {
    const connection = await connect()
    const store = new RedisStore(connection.durable, { maxPendingWrites: 2 })
    await redis!.stop()
    await eventually(async () => expect(connection.state()).toBe('degraded'))
    const first = store.account('a').write([['k', Buffer.from('1')]])
    const second = store.account('a').write([['k', Buffer.from('2')]])
    const refused = store.account('a').write([['k', Buffer.from('3')]])
    await expect(refused).rejects.toBeInstanceOf(StoreBackloggedError)
    // What a client hears: retry later, not a fault of the hub.
    await expect(refused).rejects.toMatchObject({ code: 'unavailable' })
    expect(store.pendingWrites).toBe(2)
    await redis!.start()
    await Promise.all([first, second])
    expect((await store.account('a').get('k'))?.toString()).toBe('2')
    expect(store.pendingWrites).toBe(0)
  })

  it('refuses forwards past FORWARDS_WAITING_MAX at once', async () => {
    const connection = await connect()
    const subscriber = await connection.subscriber()
    const rpc = await Rpc.start({
      instanceId: 'caller',
      publisher: connection.quick,
      subscriber,
      timeoutMs: 60_000,
      maxPending: 1,
      logger: silentLogger,
    })
    // A hub that listens and never answers.
    const silent = await connection.subscriber()
    await silent.subscribe(redisKeys.rpc('silent'))
    const waiting = rpc.call('silent', 'timeline', { id: 'x' })
    await expect(rpc.call('silent', 'timeline', { id: 'y' })).rejects.toMatchObject({
      code: 'unavailable',
      message: expect.stringMatching(/Too many requests/),
    })
    expect(rpc.waiting).toBe(1)
    rpc.close()
    await expect(waiting).rejects.toMatchObject({ code: 'unavailable' })
  })

  it('fails at once a forward to a hub nobody listens for (gone)', async () => {
    const connection = await connect()
    const rpc = await Rpc.start({
      instanceId: 'caller',
      publisher: connection.quick,
      subscriber: await connection.subscriber(),
      timeoutMs: 60_000,
      maxPending: 10,
      logger: silentLogger,
    })
    await expect(rpc.call('gone', 'timeline', { id: 'x' })).rejects.toMatchObject({
      code: 'unavailable',
      message: expect.stringMatching(/is gone/),
    })
    rpc.close()
  })
})

describe('fleet start-up and configuration', () => {
  it('exits 1 with one line when Redis is unreachable at start', async () => {
    const port = await freePort()
    const child = spawn(process.execPath, [builtEntry('cli')], {
      cwd: root,
      env: {
        PATH: process.env.PATH ?? '',
        REDIS_URL: `redis://127.0.0.1:${port}`,
        SECRET_KEY: TEST_TOKEN,
        DATA_KEY: Buffer.alloc(32, 1).toString('base64'),
        WS_PORT: '0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    const code = await new Promise((resolve) => child.once('exit', resolve))
    expect(code).toBe(1)
    expect(stderr.trim().split('\n')).toHaveLength(1)
    expect(stderr).toMatch(/Redis is not reachable at redis:\/\/127\.0\.0\.1:\d+.*\(REDIS_URL\)/)
  })

  it('needs SECRET_KEY and DATA_KEY with REDIS_URL, and never echoes the URL', () => {
    const fleet = { REDIS_URL: 'redis://:hunter2@redis.example:6379' }
    const error = (env: Record<string, string>) => {
      try {
        loadConfig(env)
      } catch (caught) {
        return caught as ConfigError
      }
      throw new Error('no error')
    }
    expect(error(fleet).variable).toBe('SECRET_KEY')
    expect(error({ ...fleet, SECRET_KEY: TEST_TOKEN }).variable).toBe('DATA_KEY')
    const bad = error({ REDIS_URL: 'http://hunter2@redis.example' })
    expect(bad.variable).toBe('REDIS_URL')
    expect(bad.message).not.toContain('hunter2')
    const config = loadConfig({
      ...fleet,
      SECRET_KEY: TEST_TOKEN,
      DATA_KEY: Buffer.alloc(32, 1).toString('base64'),
      WS_PORT: '5003',
    })
    expect(config).toMatchObject({ leaseTtlMs: 10_000, forwardTimeoutMs: 5000 })
    expect(config.instanceId).toMatch(/:5003$/)
  })

  it('answers `unavailable` when the owner does not answer within FORWARD_TIMEOUT_MS', async () => {
    redis = await startRedis()
    const env = { LEASE_TTL_MS: '20000', FORWARD_TIMEOUT_MS: '700' }
    const [a, b] = await Promise.all([
      startFleetHub(redis, 'A', env),
      startFleetHub(redis, 'B', env),
    ])
    hubs.push(a, b)
    const onA = await fleetClient(a, sockets)
    const qr = nextEvent<QrCodeEvent>(onA, 'qr_code')
    await onA.emitWithAck('get_qr', { session_id: 'quiet-owner' })
    await qr
    const onB = await fleetClient(b, sockets)
    await eventually(async () =>
      expect(await onB.emitWithAck('get_status', { session_id: 'quiet-owner' })).toMatchObject({
        ok: true,
      }),
    )
    a.child.kill('SIGSTOP')
    const asked = Date.now()
    const answer = await onB.emitWithAck('get_timeline', { session_id: 'quiet-owner' })
    expect(answer).toMatchObject({
      ok: false,
      error: {
        code: 'unavailable',
        message: expect.stringMatching(/did not answer within 700 ms/),
      },
    })
    expect(Date.now() - asked).toBeGreaterThanOrEqual(700)
  })
})
