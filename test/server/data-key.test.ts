import { spawn } from 'node:child_process'
import { cp, mkdir, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { loadConfig } from '../../server/config'
import { createHub } from '../../server/hub'
import { silentLogger } from '../../server/logger'
import type { QrCodeEvent } from '../../server/protocol'
import { readKeyFile } from '../../server/store/data-key'
import { FileStore } from '../../server/store/file-store'
import { dataKey, Keyring } from '../../server/store/seal'
import { rotateDataKey } from '../../server/store/rotate'
import { builtEntry } from '../helpers/child-hub'
import { nextEvent, sleep, startTestHub, tempDir, TEST_TOKEN, type TestHub } from '../helpers/hub'
import { filesShowing, filesUnder, openDataStore, storedSessionIds } from '../helpers/store'

const root = fileURLToPath(new URL('../..', import.meta.url))
const KEY_A = Buffer.alloc(32, 0xa1)
const KEY_B = Buffer.alloc(32, 0xb2)

const hubs: TestHub[] = []
afterEach(async () => {
  for (const hub of hubs.splice(0)) await hub.close()
})

async function start(env: Record<string, string>, dataDir?: string) {
  const hub = await startTestHub(env, { dataDir })
  hubs.push(hub)
  return hub
}

async function link(hub: TestHub, sessionId: string) {
  const socket = await hub.connect()
  const qr = nextEvent<QrCodeEvent>(socket, 'qr_code')
  await socket.emitWithAck('get_qr', { session_id: sessionId })
  const auth = nextEvent(socket, 'authenticated')
  const res = await hub.fetch(`/api/sessions/${sessionId}/simulate-scan`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ qr_data: (await qr).qr_data, name: 'Rotated' }),
  })
  expect(res.status).toBe(200)
  await auth
  socket.close()
}

async function statusOf(hub: TestHub, sessionId: string) {
  const socket = await hub.connect()
  return socket.emitWithAck('get_status', { session_id: sessionId })
}

/** The ids of the keys that sealed every value in DATA_DIR. */
async function sealingKeys(dataDir: string): Promise<Set<string>> {
  const raw = await FileStore.open(dataDir, silentLogger)
  const ring = new Keyring(dataKey(Buffer.alloc(32)))
  const ids = new Set<string>()
  for (const ns of [raw.hub, ...(await raw.accountIds()).map((id) => raw.account(id))]) {
    for (const key of await ns.keys()) ids.add(ring.keyIdOf((await ns.get(key))!))
  }
  return ids
}

/** Runs `npm run rotate-key`'s entry in a child process. */
function rotateInChild(env: Record<string, string>) {
  return runInChild('rotate-key', env)
}

/** Session folders of the old layout still in DATA_DIR. */
async function legacyFolders(dataDir: string): Promise<number> {
  return (await readdir(join(dataDir, 'sessions')).catch(() => [])).length
}

/** Milliseconds until the child exits. */
async function timed(run: ReturnType<typeof runInChild>): Promise<number> {
  const began = Date.now()
  await run.exited
  return Date.now() - began
}

function runInChild(entry: 'cli' | 'rotate-key', env: Record<string, string>) {
  const child = spawn(process.execPath, [builtEntry(entry)], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  return { child, exited, output: () => output }
}

describe('rotating the data key', () => {
  it('with the key file: re-seals everything under a new key; the hub keeps its sessions and token', async () => {
    const first = await start({})
    await link(first, 'kept')
    await first.close()
    hubs.length = 0
    const before = (await readKeyFile(join(first.dataDir, 'data-key')))!
    const result = await rotateDataKey({ dataDir: first.dataDir }, silentLogger)
    const after = (await readKeyFile(join(first.dataDir, 'data-key')))!
    expect(after.id).not.toBe(before.id)
    expect(result).toMatchObject({ keyId: after.id, keptIn: 'key file' })
    expect(result.resealed).toBe(result.total)
    expect(await sealingKeys(first.dataDir)).toEqual(new Set([after.id]))
    expect(await readdir(first.dataDir)).not.toContain('data-key.next')
    const again = await start({}, first.dataDir)
    expect(await statusOf(again, 'kept')).toMatchObject({ status: 'authenticated' })
  })

  it('with DATA_KEY: moves to DATA_KEY_NEW; the old key no longer opens anything', async () => {
    const dataDir = await tempDir()
    const config = loadConfig({
      WS_PORT: '0',
      WS_HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      DATA_KEY: KEY_A.toString('base64'),
    })
    const hub = createHub(config, { logger: silentLogger })
    const { token } = await hub.start()
    await hub.stop()
    await expect(rotateDataKey({ dataDir, dataKey: KEY_A }, silentLogger)).rejects.toThrow(
      /DATA_KEY_NEW/,
    )
    await rotateDataKey({ dataDir, dataKey: KEY_A, newKey: KEY_B }, silentLogger)
    expect(await sealingKeys(dataDir)).toEqual(new Set([dataKey(KEY_B).id]))
    const moved = createHub({ ...config, dataKey: KEY_B }, { logger: silentLogger })
    expect((await moved.start()).token).toBe(token)
    await moved.stop()
    const old = createHub(config, { logger: silentLogger })
    expect((await old.start()).token).not.toBe(token) // cannot read it: a temporary token
    await old.stop()
    expect(await readdir(dataDir)).not.toContain('data-key')
  })

  it('refuses to run while a hub uses DATA_DIR', async () => {
    const hub = await start({})
    await expect(rotateDataKey({ dataDir: hub.dataDir }, silentLogger)).rejects.toThrow(
      /in use by another hub/,
    )
  })

  it('survives kill -9 at any point: run again, it finishes, nothing is lost', async () => {
    const dataDir = await tempDir()
    const first = await start({}, dataDir)
    for (let i = 0; i < 40; i++) await link(first, `acct-${i}`)
    await first.close()
    hubs.length = 0
    // Enough values that a rotation takes a while (each one is written and fsynced alone).
    const store = await openDataStore(dataDir)
    await store.hub.write(
      Array.from({ length: 800 }, (_, i) => [`filler-${i}`, Buffer.from(`value ${i}`)] as const),
    )
    await store.close()
    // How long the process takes to load, and to rotate everything (on a copy): kill it between.
    const load = await timed(rotateInChild({ DATA_DIR: dataDir, DATA_KEY_NEW: 'bad' }))
    const copy = await tempDir()
    await cp(dataDir, copy, { recursive: true })
    const full = await timed(rotateInChild({ DATA_DIR: copy }))
    let killedMidway = 0
    for (let round = 0; round < 4; round++) {
      const run = rotateInChild({ DATA_DIR: dataDir })
      await sleep(load + Math.random() * (full - load))
      run.child.kill('SIGKILL')
      await run.exited
      if ((await sealingKeys(dataDir)).size > 1) killedMidway += 1
    }
    // At least one kill left values sealed under both keys: it landed mid-rotation.
    expect(killedMidway).toBeGreaterThan(0)
    const finish = rotateInChild({ DATA_DIR: dataDir })
    expect(await finish.exited, finish.output()).toBe(0)
    expect(finish.output()).toMatch(/Re-sealed \d+ of \d+ values/)
    const key = (await readKeyFile(join(dataDir, 'data-key')))!
    expect(await sealingKeys(dataDir)).toEqual(new Set([key.id]))
    const again = await start({}, dataDir)
    const statuses = await Promise.all(
      Array.from({ length: 40 }, (_, i) => statusOf(again, `acct-${i}`)),
    )
    expect(statuses.filter((s) => s.status === 'authenticated')).toHaveLength(40)
  }, 60_000)
})

describe('moving plain data from earlier versions', () => {
  it('survives kill -9 at any point of the move: every account resumable, no plain file left', async () => {
    const dataDir = await tempDir()
    const ids = Array.from({ length: 150 }, (_, n) => `plain-${n}`)
    for (const [n, id] of ids.entries()) {
      const folder = join(dataDir, 'sessions', id)
      await mkdir(folder, { recursive: true })
      const user = { id: `346${String(n).padStart(8, '0')}@s.whatsapp.net`, name: `Person ${id}` }
      await writeFile(join(folder, 'simulated-creds.json'), JSON.stringify({ user }))
      for (const extra of ['pre-key-1', 'pre-key-2', 'session-34600000001.0']) {
        await writeFile(join(folder, `${extra}.json`), JSON.stringify({ extra, id }))
      }
      await writeFile(
        join(folder, 'session.json'),
        JSON.stringify({ id, provider: 'simulated', user, linked_at: new Date(0) }),
      )
    }
    const token = 'plain-token-0123456789abcdefghijklmnopqr'
    await writeFile(join(dataDir, 'access-token'), `${token}\n`)

    // Kill the hub while it moves the data, at a random point: when a random number of the
    // session folders is still waiting to move.
    let killedMidway = 0
    for (let round = 0; round < 3; round++) {
      const waiting = await legacyFolders(dataDir)
      if (waiting === 0) break
      const killAt = Math.floor(Math.random() * waiting)
      const run = serveInChild({ DATA_DIR: dataDir, WS_PORT: '0' })
      while (run.child.exitCode === null && (await legacyFolders(dataDir)) > killAt) await sleep(2)
      run.child.kill('SIGKILL')
      await run.exited
      const left = await legacyFolders(dataDir)
      if (left > 0 && left < waiting) killedMidway += 1
    }
    // At least one kill landed in the middle of the move (not before it, not after it).
    expect(killedMidway).toBeGreaterThan(0)

    const config = loadConfig({ WS_PORT: '0', WS_HOST: '127.0.0.1', DATA_DIR: dataDir })
    const hub = createHub(config, { logger: silentLogger })
    expect((await hub.start()).token).toBe(token)
    expect(hub.status().sessions).toMatchObject({ total: ids.length, authenticated: ids.length })
    await hub.stop()
    expect(await storedSessionIds(dataDir)).toHaveLength(ids.length)
    expect((await filesUnder(dataDir)).filter((file) => file.endsWith('.json'))).toEqual([])
    expect(await filesShowing(dataDir, token)).toEqual([])
    expect(await filesShowing(dataDir, 'Person plain')).toEqual([])
  }, 90_000)
})

/** Runs `npm run serve`'s entry in a child process, without waiting for it. */
function serveInChild(env: Record<string, string>) {
  return runInChild('cli', { WS_HOST: '127.0.0.1', SECRET_KEY: TEST_TOKEN, ...env })
}
