import { createHash } from 'node:crypto'
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { loadConfig } from '../../server/config'
import { createHub } from '../../server/hub'
import { silentLogger, type Logger } from '../../server/logger'
import type { QrCodeEvent } from '../../server/protocol'
import { encodeName } from '../../server/store/names'
import { putJson } from '../../server/store/store'
import { nextEvent, startTestHub, tempDir, type TestHub } from '../helpers/hub'
import {
  credentialsOf,
  filesShowing,
  filesUnder,
  openDataStore,
  storedSessionIds,
} from '../helpers/store'

const hubs: TestHub[] = []
afterEach(async () => {
  for (const hub of hubs.splice(0)) await hub.close()
})

const KEY_A = Buffer.alloc(32, 0xa1).toString('base64')
const KEY_B = Buffer.alloc(32, 0xb2).toString('base64')

function capture() {
  const lines: string[] = []
  const push = (message: string) => void lines.push(message)
  const logger: Logger = { debug: push, info: push, warn: push, error: push }
  return { lines, logger }
}

async function start(env: Record<string, string>, dataDir?: string, logger?: Logger) {
  const hub = await startTestHub(env, { dataDir, ...(logger ? { logger } : {}) })
  hubs.push(hub)
  return hub
}

async function restart(hub: TestHub, env: Record<string, string> = {}, logger?: Logger) {
  await hub.close()
  hubs.splice(hubs.indexOf(hub), 1)
  return start(env, hub.dataDir, logger)
}

async function link(hub: TestHub, sessionId: string, name = 'Kept', phone = '+34600000009') {
  const socket = await hub.connect()
  const qr = nextEvent<QrCodeEvent>(socket, 'qr_code')
  await socket.emitWithAck('get_qr', { session_id: sessionId })
  const auth = nextEvent(socket, 'authenticated')
  const res = await hub.fetch(`/api/sessions/${sessionId}/simulate-scan`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ qr_data: (await qr).qr_data, name, phone }),
  })
  expect(res.status).toBe(200)
  await auth
  socket.close()
}

async function statusOf(hub: TestHub, sessionId: string) {
  const socket = await hub.connect()
  const status = await socket.emitWithAck('get_status', { session_id: sessionId })
  socket.close()
  return status
}

/** A fingerprint of every file (path and content) under `dir`. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const file of await filesUnder(dir)) {
    out[file] = createHash('sha256')
      .update(await readFile(join(dir, file)))
      .digest('hex')
  }
  return out
}

describe('persistence', () => {
  it('brings a linked session back authenticated after a restart, without a scan', async () => {
    const first = await start({})
    await link(first, 'keeper')
    const second = await restart(first)
    const socket = await second.connect()
    const status = await socket.emitWithAck('get_status', { session_id: 'keeper' })
    expect(status).toMatchObject({
      ok: true,
      status: 'authenticated',
      authenticated: true,
      user: { id: '34600000009@s.whatsapp.net', name: 'Kept' },
    })
    const qrs: unknown[] = []
    socket.on('qr_code', (qr) => qrs.push(qr))
    const auth = nextEvent(socket, 'authenticated')
    await socket.emitWithAck('get_qr', { session_id: 'keeper' })
    await auth
    expect(qrs).toHaveLength(0)
  })

  it('forgets a session logged out before the restart, its data deleted first', async () => {
    const first = await start({})
    await link(first, 'leaver')
    expect(await storedSessionIds(first.dataDir)).toEqual(['leaver'])
    const socket = await first.connect()
    await socket.emitWithAck('disconnect_whatsapp', { session_id: 'leaver' })
    expect(await storedSessionIds(first.dataDir)).toEqual([])
    const second = await restart(first)
    expect(await statusOf(second, 'leaver')).toMatchObject({
      ok: false,
      error: { code: 'unknown_session' },
    })
  })

  it('refuses a tampered record: reports that session failed, keeps it, serves the others', async () => {
    const first = await start({})
    await link(first, 'survivor')
    await link(first, 'tampered')
    await first.close()
    hubs.length = 0
    const folder = join(first.dataDir, 'accounts', encodeName('tampered'))
    const record = join(folder, encodeName('record'))
    const bytes = await readFile(record)
    bytes[bytes.length - 20]! ^= 0xff
    await writeFile(record, bytes)
    const torn = join(first.dataDir, 'accounts', encodeName('survivor'), '.x.deadbeef.tmp')
    await writeFile(torn, 'half')

    const { lines, logger } = capture()
    const second = await start({ SESSION_IDLE_MS: '200' }, first.dataDir, logger)
    expect(await statusOf(second, 'survivor')).toMatchObject({ status: 'authenticated' })
    const failed = await statusOf(second, 'tampered')
    expect(failed).toMatchObject({ status: 'disconnected', reason: 'failed' })
    expect(failed.message).toMatch(/damaged.*nothing was deleted/)
    expect(lines.some((line) => /damaged/.test(line))).toBe(true)
    expect(await readdir(join(first.dataDir, 'accounts', encodeName('survivor')))).not.toContain(
      '.x.deadbeef.tmp',
    )
    // Idle cleanup never deletes what the hub could not read.
    await new Promise((resolve) => setTimeout(resolve, 600))
    expect(await readFile(record)).toEqual(bytes)
  })

  it('seals everything it stores: no account name, number or id in plain text anywhere', async () => {
    const marker = `Zq${Date.now().toString(36)}Marker`
    const first = await start({})
    await link(first, `${marker}-session`, `${marker} Person`, '+34611222333')
    await first.close()
    hubs.length = 0
    const files = await filesUnder(first.dataDir)
    expect(files.length).toBeGreaterThan(2)
    for (const text of [marker, marker.toLowerCase(), '34611222333']) {
      expect(await filesShowing(first.dataDir, text)).toEqual([])
    }
    expect((await stat(join(first.dataDir, 'data-key'))).mode & 0o777).toBe(0o600)
  })

  it('makes a token at first start when SECRET_KEY is unset, keeps it sealed, and reuses it', async () => {
    const dataDir = await tempDir()
    const config = loadConfig({ WS_PORT: '0', WS_HOST: '127.0.0.1', DATA_DIR: dataDir })
    const hub = createHub(config, { logger: silentLogger })
    const info = await hub.start()
    expect(info.token).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(info.accessUrl).toBe(`${info.url}?token=${info.token}`)
    await hub.stop()
    const again = createHub(config, { logger: silentLogger })
    expect((await again.start()).token).toBe(info.token)
    await again.stop()
    expect(await filesShowing(dataDir, info.token)).toEqual([])
    expect((await readdir(dataDir)).sort()).toEqual(['data-key', 'hub'])
  })

  it('adopts credentials whose record was never written, and removes those of unfinished links', async () => {
    const dataDir = await tempDir()
    const store = await openDataStore(dataDir)
    const user = { id: '34600000001@s.whatsapp.net', name: 'Adopted' }
    await putJson(await credentialsOf(dataDir, 'adopt-me'), 'simulated-creds', { user })
    await (await credentialsOf(dataDir, 'half-link')).write([['something', Buffer.from('x')]])
    await store.close()

    const { lines, logger } = capture()
    const hub = await start({}, dataDir, logger)
    expect(await statusOf(hub, 'adopt-me')).toMatchObject({ status: 'authenticated', user })
    expect(await statusOf(hub, 'half-link')).toMatchObject({ error: { code: 'unknown_session' } })
    expect(await storedSessionIds(dataDir)).toEqual(['adopt-me'])
    expect(lines).toContain('Adopted stored credentials whose session record was missing')
    expect(lines).toContain('Removed the credentials of a link that was never confirmed')
    // Adopted for good: the record is there now.
    const again = await restart(hub)
    expect(await statusOf(again, 'adopt-me')).toMatchObject({ status: 'authenticated' })
  })
})

describe('one hub per DATA_DIR', () => {
  it('refuses a second hub on the same DATA_DIR, naming the one that has it', async () => {
    const first = await start({})
    const config = loadConfig({ WS_PORT: '0', WS_HOST: '127.0.0.1', DATA_DIR: first.dataDir })
    const second = createHub(config, { logger: silentLogger })
    await expect(second.start()).rejects.toThrow(
      new RegExp(`in use by another hub \\(process ${process.pid}\\)`),
    )
    expect((await first.fetch('/health')).status).toBe(200)
    await first.close()
    hubs.length = 0
    // Released on stop: the next hub takes it.
    await second.start()
    await second.stop()
  })

  it('takes over the lock of a hub that died without releasing it', async () => {
    const dataDir = await tempDir()
    await writeFile(join(dataDir, 'hub.lock'), '999999999\n')
    const hub = await start({}, dataDir)
    expect((await hub.fetch('/health')).status).toBe(200)
  })
})

describe('the data key', () => {
  it('with a wrong key: starts, reports the sessions failed, deletes nothing; the right key brings them back', async () => {
    const first = await start({ DATA_KEY: KEY_A })
    await link(first, 'locked')
    await first.close()
    hubs.length = 0
    const before = await snapshot(first.dataDir)

    const { lines, logger } = capture()
    const wrong = await start({ DATA_KEY: KEY_B, SESSION_IDLE_MS: '200' }, first.dataDir, logger)
    const status = await statusOf(wrong, 'locked')
    expect(status).toMatchObject({ status: 'disconnected', reason: 'failed' })
    expect(status.message).toMatch(/data key does not match.*nothing was deleted/)
    expect(lines.some((line) => /data key does not match/.test(line))).toBe(true)
    const socket = await wrong.connect()
    expect(await socket.emitWithAck('get_qr', { session_id: 'locked' })).toMatchObject({
      ok: false,
      error: { code: 'provider_error', message: expect.stringMatching(/data key/) },
    })
    await new Promise((resolve) => setTimeout(resolve, 600))
    await wrong.close()
    hubs.length = 0
    expect(await snapshot(first.dataDir)).toEqual(before)

    const right = await start({ DATA_KEY: KEY_A }, first.dataDir)
    expect(await statusOf(right, 'locked')).toMatchObject({ status: 'authenticated' })
  })
})

describe('data from earlier versions', () => {
  it('moves plain files into the sealed store and deletes them', async () => {
    const dataDir = await tempDir()
    const token = 'legacy-token-0123456789abcdefghijklmnopqrst'
    await writeFile(join(dataDir, 'access-token'), `${token}\n`)
    const folder = join(dataDir, 'sessions', 'old-shop')
    await mkdir(folder, { recursive: true })
    const user = { id: '34699888777@s.whatsapp.net', name: 'Legacy Person' }
    await writeFile(
      join(folder, 'session.json'),
      JSON.stringify({ id: 'old-shop', provider: 'simulated', user, linked_at: new Date(0) }),
    )
    await writeFile(join(folder, 'simulated-creds.json'), JSON.stringify({ user }))

    const config = loadConfig({ WS_PORT: '0', WS_HOST: '127.0.0.1', DATA_DIR: dataDir })
    const hub = createHub(config, { logger: silentLogger })
    const info = await hub.start()
    expect(info.token).toBe(token)
    const status = (await hub.status()).sessions
    expect(status).toMatchObject({ total: 1, authenticated: 1 })
    await hub.stop()
    expect((await readdir(dataDir)).sort()).toEqual(['accounts', 'data-key', 'hub'])
    for (const text of ['Legacy Person', '34699888777', token, 'old-shop']) {
      expect(await filesShowing(dataDir, text)).toEqual([])
    }
    expect(await storedSessionIds(dataDir)).toEqual(['old-shop'])
  })
})
