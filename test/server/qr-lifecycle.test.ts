import { afterEach, describe, expect, it } from 'vitest'
import type { DisconnectedEvent, QrCodeEvent, StatusEvent } from '../../server/protocol'
import { collect, nextEvent, startTestHub, type TestHub } from '../helpers/hub'

let t: TestHub | undefined
afterEach(async () => {
  await t?.close(true)
})

const scan = (hub: TestHub, sessionId: string, qrData: string) =>
  hub.fetch(`/api/sessions/${sessionId}/simulate-scan`, {
    method: 'POST',
    body: JSON.stringify({ qr_data: qrData }),
  })

describe('QR lifecycle (simulated WhatsApp)', () => {
  it('rotates QRs with the first and later TTLs, then ends with qr_timeout', async () => {
    t = await startTestHub({ QR_TTL_FIRST_MS: '400', QR_TTL_MS: '200', QR_MAX: '3' })
    const socket = await t.connect()
    const qrs = collect<QrCodeEvent>(socket, 'qr_code')
    const statuses = collect<StatusEvent>(socket, 'status')
    const ended = nextEvent<DisconnectedEvent>(socket, 'disconnected', () => true, 5000)
    await socket.emitWithAck('get_qr', { session_id: 'rotating' })

    expect(await ended).toMatchObject({
      type: 'disconnected',
      session_id: 'rotating',
      reason: 'qr_timeout',
    })
    expect(qrs.map((qr) => qr.attempt)).toEqual([1, 2, 3])
    expect(qrs.every((qr) => qr.attempts_max === 3)).toBe(true)
    expect(new Set(qrs.map((qr) => qr.qr_data)).size).toBe(3)
    const ttls = qrs.map((qr) => Date.parse(qr.expires_at) - Date.parse(qr.issued_at))
    expect(ttls).toEqual([400, 200, 200])
    // each rotation arrives close to when the previous QR expired
    for (let i = 1; i < qrs.length; i++) {
      expect(
        Math.abs(Date.parse(qrs[i]!.issued_at) - Date.parse(qrs[i - 1]!.expires_at)),
      ).toBeLessThan(150)
    }
    expect(statuses.map((s) => s.status)).toEqual(['qr_ready', 'disconnected'])
    expect(statuses.at(-1)).toMatchObject({ reason: 'qr_timeout', authenticated: false })
  })

  it('refuses a scan of a rotated-out QR (410) and of data never issued (409)', async () => {
    t = await startTestHub({ QR_TTL_FIRST_MS: '300', QR_TTL_MS: '5000' })
    const socket = await t.connect()
    const first = nextEvent<QrCodeEvent>(socket, 'qr_code')
    await socket.emitWithAck('get_qr', { session_id: 'scan' })
    const firstQr = await first
    const second = await nextEvent<QrCodeEvent>(socket, 'qr_code')
    expect(second.attempt).toBe(2)

    const stale = await scan(t, 'scan', firstQr.qr_data)
    expect(stale.status).toBe(410)
    expect(await stale.json()).toMatchObject({ code: 'qr_expired' })

    const foreign = await scan(t, 'scan', '2@forged,AAAA,BBBB,CCCC')
    expect(foreign.status).toBe(409)
    expect(await foreign.json()).toMatchObject({ code: 'qr_mismatch' })

    const auth = nextEvent(socket, 'authenticated')
    expect((await scan(t, 'scan', second.qr_data)).status).toBe(200)
    await auth
    // once linked, even the QR that linked it cannot be scanned again
    expect((await scan(t, 'scan', second.qr_data)).status).toBe(410)
  })

  it('refuses a scan of the QR of another session', async () => {
    t = await startTestHub()
    const socket = await t.connect()
    const qr = nextEvent<QrCodeEvent>(socket, 'qr_code', (e) => e.session_id === 'one')
    await socket.emitWithAck('get_qr', { session_id: 'one' })
    await socket.emitWithAck('get_qr', { session_id: 'two' })
    expect((await scan(t, 'two', (await qr).qr_data)).status).toBe(409)
  })
})
