import { io, type Socket } from 'socket.io-client'
import { afterEach, describe, expect, it } from 'vitest'
import type { QrCodeEvent } from '../../server/protocol'
import { startChildHub, type ChildHub } from '../helpers/child-hub'
import { tempDir, TEST_TOKEN } from '../helpers/hub'
import { openDataStore } from '../helpers/store'
import { RECORD_KEY } from '../../server/store/legacy'

const SESSIONS = 300
const KILL_AFTER = 120
const WINDOW = 60

const running: ChildHub[] = []
const sockets: Socket[] = []
afterEach(() => {
  for (const socket of sockets.splice(0)) socket.close()
  for (const hub of running.splice(0)) hub.child.kill('SIGKILL')
})

async function hubOn(dataDir: string): Promise<ChildHub> {
  const hub = await startChildHub({
    DATA_DIR: dataDir,
    SECRET_KEY: TEST_TOKEN,
    RATE_LIMIT_PER_S: '100000',
    RATE_LIMIT_BURST: '100000',
    MAX_PENDING_PER_CLIENT: '10000',
    MAX_SESSIONS: '100000',
    QR_TTL_FIRST_MS: '600000',
  })
  running.push(hub)
  return hub
}

/** A client as the docs show it: default transports (polling first), the token in `auth`. */
async function client(url: string): Promise<Socket> {
  const socket = io(url, {
    auth: { token: TEST_TOKEN },
    reconnection: false,
    transports: ['websocket'],
  })
  sockets.push(socket)
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('connect_error', reject)
  })
  return socket
}

describe('a confirmed link survives kill -9', () => {
  it(`kills the hub after the ${KILL_AFTER}th confirmed scan of ${SESSIONS}; every confirmed link comes back, no orphans`, async () => {
    const dataDir = await tempDir()
    const hub = await hubOn(dataDir)
    const socket = await client(hub.url)
    const codes = new Map<string, string>()
    socket.on('qr_code', (qr: QrCodeEvent) => codes.set(qr.session_id, qr.qr_data))
    const ids = Array.from({ length: SESSIONS }, (_, i) => `crash-${i}`)
    await Promise.all(ids.map((id) => socket.emitWithAck('get_qr', { session_id: id })))
    const deadline = Date.now() + 20_000
    while (codes.size < SESSIONS && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    expect(codes.size).toBe(SESSIONS)

    // Scans go out concurrently, WINDOW at a time, so the kill finds many still in flight.
    const confirmed: string[] = []
    const waiting = [...ids]
    let killed = false
    let cutOff = 0
    const scanner = async () => {
      for (let id = waiting.shift(); id !== undefined && !killed; id = waiting.shift()) {
        try {
          const res = await fetch(`${hub.url}/api/sessions/${id}/simulate-scan`, {
            method: 'POST',
            headers: { Authorization: `Bearer ${TEST_TOKEN}`, 'Content-Type': 'application/json' },
            body: JSON.stringify({ qr_data: codes.get(id), name: `Person ${id}` }),
          })
          if (res.status !== 200) continue
        } catch {
          cutOff += 1 // sent before the kill, never answered
          continue
        }
        // Every 200 the hub sent is a promise, also those read after the kill.
        confirmed.push(id)
        if (confirmed.length === KILL_AFTER) {
          killed = true
          hub.child.kill('SIGKILL')
        }
      }
    }
    await Promise.all(Array.from({ length: WINDOW }, scanner))
    await hub.exited
    expect(hub.child.signalCode).toBe('SIGKILL')
    expect(confirmed.length).toBeGreaterThanOrEqual(KILL_AFTER)
    // The kill cut scans off mid-flight: some never got an answer.
    expect(cutOff).toBeGreaterThan(0)

    const again = await hubOn(dataDir)
    const reader = await client(again.url)
    const statuses = await Promise.all(
      ids.map((id) => reader.emitWithAck('get_status', { session_id: id })),
    )
    const authenticated = new Set(
      statuses.filter((s) => s.ok && s.status === 'authenticated').map((s) => s.session_id),
    )
    const lost = confirmed.filter((id) => !authenticated.has(id))
    expect(lost).toEqual([])
    // No orphans: every account left in the store has its record.
    const store = await openDataStore(dataDir)
    for (const id of await store.accountIds()) {
      expect(await store.account(id).get(RECORD_KEY), id).toBeDefined()
      expect(authenticated.has(id), id).toBe(true)
    }
  }, 90_000)
})
