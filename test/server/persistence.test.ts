import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { loadConfig } from '../../server/config'
import { createHub } from '../../server/hub'
import { silentLogger } from '../../server/logger'
import type { QrCodeEvent, StatusEvent } from '../../server/protocol'
import { nextEvent, startTestHub, tempDir, type TestHub } from '../helpers/hub'

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
    body: JSON.stringify({ qr_data: (await qr).qr_data, name: 'Kept', phone: '+34600000009' }),
  })
  expect(res.status).toBe(200)
  await auth
  socket.close()
}

describe('persistence', () => {
  it('brings a linked session back authenticated after a restart, without a scan', async () => {
    const first = await start({})
    await link(first, 'keeper')
    await first.close()
    hubs.length = 0

    const second = await start({}, first.dataDir)
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

  it('forgets a session logged out before the restart', async () => {
    const first = await start({})
    await link(first, 'leaver')
    const socket = await first.connect()
    await socket.emitWithAck('disconnect_whatsapp', { session_id: 'leaver' })
    expect(await readdir(join(first.dataDir, 'sessions'))).toEqual([])
    await first.close()
    hubs.length = 0

    const second = await start({}, first.dataDir)
    const client = await second.connect()
    expect(await client.emitWithAck('get_status', { session_id: 'leaver' })).toMatchObject({
      ok: false,
      error: { code: 'unknown_session' },
    })
  })

  it('ignores a torn temp file and a damaged record left by a crash', async () => {
    const first = await start({})
    await link(first, 'survivor')
    await first.close()
    hubs.length = 0
    const sessions = join(first.dataDir, 'sessions')
    const torn = join(sessions, 'survivor', '.session.json.deadbeef.tmp')
    await writeFile(torn, '{"id":"survivor","us')
    await writeFile(join(sessions, 'survivor', 'session.json.bak'), 'junk')
    const { mkdir } = await import('node:fs/promises')
    await mkdir(join(sessions, 'broken'))
    await writeFile(join(sessions, 'broken', 'session.json'), '{"id": "broken", "prov')

    const second = await start({}, first.dataDir)
    const socket = await second.connect()
    const list = await socket.emitWithAck('list_sessions', {})
    expect(list.sessions.map((s: StatusEvent) => [s.session_id, s.status])).toEqual([
      ['survivor', 'authenticated'],
    ])
    expect(await readdir(join(sessions, 'survivor'))).not.toContain('.session.json.deadbeef.tmp')
  })

  it('writes session records atomically, leaving no temp files', async () => {
    const first = await start({})
    await link(first, 'atomic')
    await first.close()
    hubs.length = 0
    const files = await readdir(join(first.dataDir, 'sessions', 'atomic'))
    expect(files.filter((f) => f.endsWith('.tmp'))).toEqual([])
    const record = JSON.parse(
      await readFile(join(first.dataDir, 'sessions', 'atomic', 'session.json'), 'utf8'),
    )
    expect(record).toMatchObject({ id: 'atomic', provider: 'simulated', user: { name: 'Kept' } })
  })

  it('makes a token at first start when SECRET_KEY is unset, and keeps it', async () => {
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
    expect((await readFile(join(dataDir, 'access-token'), 'utf8')).trim()).toBe(info.token)
  })
})
