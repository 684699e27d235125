import { afterEach, describe, expect, it } from 'vitest'
import { startTestHub, TEST_TOKEN, type TestHub } from '../helpers/hub'
import { rawRequest } from '../helpers/raw-http'

let t: TestHub
afterEach(async () => {
  await t.close(true)
})

const polling = () => `${t.info.url}socket.io/?EIO=4&transport=polling`

/** An Engine.IO connection that has not shown the token (yet). */
async function handshake(): Promise<{ status: number; sid?: string; body: string }> {
  const res = await fetch(polling())
  const body = await res.text()
  if (res.status !== 200) return { status: res.status, body }
  return { status: 200, sid: (JSON.parse(body.slice(1)) as { sid: string }).sid, body }
}
const post = (sid: string, body: string) =>
  fetch(`${polling()}&sid=${sid}`, { method: 'POST', body }).then((res) => res.status)

async function metric(name: string): Promise<number> {
  const text = await (await t.fetch('/metrics')).text()
  const line = text.split('\n').find((l) => l.startsWith(`${name} `))
  if (!line) throw new Error(`no ${name} in /metrics`)
  return Number(line.slice(name.length + 1))
}
const waiting = () => metric('wa_link_hub_unauthenticated_connections')

describe('connections that have not shown the token', () => {
  it('keeps at most MAX_UNAUTHENTICATED of them and refuses new ones over it', async () => {
    t = await startTestHub({ MAX_UNAUTHENTICATED: '3', CONNECT_TIMEOUT_MS: '60000' })
    const held = [await handshake(), await handshake(), await handshake()]
    expect(held.map((h) => h.status)).toEqual([200, 200, 200])
    // One of them even tried a wrong token: it still has not shown the token.
    expect(await post(held[0]!.sid!, '40{"token":"wrong-token"}')).toBe(200)
    expect(await waiting()).toBe(3)

    const refused = await handshake()
    expect(refused.status).toBe(403)
    expect(JSON.parse(refused.body)).toMatchObject({
      message: 'too many connections waiting for a token; retry later',
    })
    const upgrade = await rawRequest(
      t.info.url,
      'GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n' +
        'Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    )
    expect(upgrade.status).toBe(403)
    expect(JSON.parse(upgrade.body)).toMatchObject({ code: 'forbidden' })
    await expect(t.connect()).rejects.toThrow()
    expect(
      await metric('wa_link_hub_connections_refused_total{reason="unauthenticated_limit"}'),
    ).toBe(3)

    // Showing the token frees the place: a new client gets in.
    expect(await post(held[1]!.sid!, `40${JSON.stringify({ token: TEST_TOKEN })}`)).toBe(200)
    expect(await waiting()).toBe(2)
    const client = await t.connect()
    expect(client.connected).toBe(true)
    expect(await waiting()).toBe(2)
    expect(await metric('wa_link_hub_limit{name="MAX_UNAUTHENTICATED"}')).toBe(3)
  })

  it('closes a connection that has not shown the token within CONNECT_TIMEOUT_MS', async () => {
    t = await startTestHub({ MAX_UNAUTHENTICATED: '1', CONNECT_TIMEOUT_MS: '300' })
    const { sid } = await handshake()
    expect((await handshake()).status).toBe(403)
    // The long-poll ends with Engine.IO's close packet when the hub gives up on it.
    const poll = await (await fetch(`${polling()}&sid=${sid}`)).text()
    expect(poll.split('\x1e')).toContain('1')
    expect(await waiting()).toBe(0)
    expect((await fetch(`${polling()}&sid=${sid}`)).status).toBe(400)
    expect((await t.connect()).connected).toBe(true)
  })
})
