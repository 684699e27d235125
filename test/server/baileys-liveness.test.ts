import { describe, expect, it, vi } from 'vitest'
import type { StatusEvent, TimelineAck } from '../../server/protocol'
import { directProvider, linkPhone, startBaileysHub } from '../helpers/fake-baileys'
import { nextEvent, sleep } from '../helpers/hub'
import { until } from '../main/launch'

describe('liveness of a linked Baileys connection', () => {
  it('silence degrades the account; a frame from WhatsApp makes it healthy again', async () => {
    const t = directProvider({ HEALTH_SILENCE_MS: '150' })
    const phone = await linkPhone(t.provider, t.fake, t.session, t.calls)
    await until(() => t.of('health').length === 1)
    expect(t.of('health')[0]).toEqual([
      'degraded',
      expect.stringMatching(/^WhatsApp has not answered for 0\.\d s$/),
    ])
    phone.frame()
    expect(t.of('health')[1]).toEqual(['ok'])
    expect(phone.live).toBe(true)
    await t.provider.shutdown()
  })

  it('frames keep a connection healthy', async () => {
    const t = directProvider({ HEALTH_SILENCE_MS: '150' })
    const phone = await linkPhone(t.provider, t.fake, t.session, t.calls)
    for (let i = 0; i < 10; i++) {
      await sleep(40)
      phone.frame()
    }
    expect(t.of('health')).toEqual([])
    await t.provider.shutdown()
  })

  it('a connection silent for twice the window is ended and replaced, the drop reported', async () => {
    const t = directProvider({ HEALTH_SILENCE_MS: '150' })
    const phone = await linkPhone(t.provider, t.fake, t.session, t.calls)
    const sockets = t.fake.sockets.length
    await until(() => t.fake.sockets.length === sockets + 1, 3000)
    expect(phone.live).toBe(false)
    expect(t.fake.maxLive()).toBe(1)
    expect(t.of('reconnecting').at(-1)).toEqual([
      true,
      {
        message: expect.stringMatching(
          /^WhatsApp has not answered for 0\.\d s; the connection was dropped$/,
        ),
        retryInMs: expect.any(Number),
      },
    ])
    t.fake.last().open()
    await until(() => t.of('authenticated').length === 2)
    await t.provider.shutdown()
  })

  it('a linked account whose connection never opens is reconnected', async () => {
    const first = directProvider()
    await linkPhone(first.provider, first.fake, first.session, first.calls)
    await first.provider.shutdown()
    const t = directProvider({ HEALTH_SILENCE_MS: '150' })
    await t.provider.resume({ ...t.session, store: first.store })
    await until(() => t.fake.sockets.length === 1)
    const stuck = t.fake.last()
    await until(() => t.fake.sockets.length === 2, 3000)
    expect(stuck.live).toBe(false)
    expect(t.of('reconnecting').at(-1)?.[1]).toMatchObject({
      message: expect.stringMatching(/^WhatsApp did not open the connection within 0\.\d s$/),
    })
    await t.provider.shutdown()
  })

  it('a link attempt that never gets a QR is reconnected', async () => {
    const t = directProvider({ HEALTH_SILENCE_MS: '150' })
    await t.provider.link(t.session, {})
    await until(() => t.fake.sockets.length === 2, 3000)
    expect(t.fake.sockets[0]!.live).toBe(false)
    expect(t.of('reconnecting')[0]?.[1]?.message).toMatch(/did not send a QR code/)
    t.fake.last().pairDevice()
    await sleep(300) // a QR on screen: Baileys' own QR timer runs the connection now
    expect(t.fake.sockets).toHaveLength(2)
    await t.provider.shutdown()
  })

  it('says how long it waited in whole seconds from ten seconds up', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    try {
      const t = directProvider({ HEALTH_SILENCE_MS: '10000' })
      await t.provider.link(t.session, {})
      expect(t.fake.sockets).toHaveLength(1)
      await vi.advanceTimersByTimeAsync(10_000)
      expect(t.of('reconnecting')[0]).toEqual([
        true,
        { message: 'WhatsApp did not send a QR code within 10 s', retryInMs: 10 },
      ])
      await t.provider.shutdown()
    } finally {
      vi.useRealTimers()
    }
  })

  it('frames from a replaced connection do not make the new one look healthy', async () => {
    const t = directProvider({ HEALTH_SILENCE_MS: '150' })
    const phone = await linkPhone(t.provider, t.fake, t.session, t.calls)
    phone.drop(428)
    await until(() => t.fake.sockets.length === 3)
    t.fake.last().open()
    await until(() => t.of('authenticated').length === 2)
    const stale = setInterval(() => phone.frame(), 30)
    try {
      await until(() => t.of('health').length === 1, 1000)
      expect(t.of('health')[0]![0]).toBe('degraded')
    } finally {
      clearInterval(stale)
    }
    await t.provider.shutdown()
  })

  it('stops watching a closed connection', async () => {
    const t = directProvider({ HEALTH_SILENCE_MS: '150' })
    const phone = await linkPhone(t.provider, t.fake, t.session, t.calls)
    await t.provider.close('acct')
    await sleep(400)
    expect(t.of('health')).toEqual([])
    expect(t.fake.sockets.at(-1)).toBe(phone)
  })

  it('pings often enough for the window: Baileys keep-alive is a third of HEALTH_SILENCE_MS, 30 s at most', async () => {
    for (const [silence, keepAlive] of [
      ['90000', 30_000],
      ['6000', 2000],
      ['150', 1000],
    ] as const) {
      const t = directProvider({ HEALTH_SILENCE_MS: silence })
      await t.provider.link(t.session, {})
      await until(() => t.fake.sockets.length === 1)
      expect(t.fake.last().config.keepAliveIntervalMs).toBe(keepAlive)
      await t.provider.shutdown()
    }
  })

  it('shows on the account: degraded, then the drop, in status and timeline', async () => {
    const { linkVia } = await startBaileysHub({ HEALTH_SILENCE_MS: '150' })
    const { socket, phone } = await linkVia('quiet')
    const degraded = await nextEvent<StatusEvent>(socket, 'status', (s) => s.health === 'degraded')
    expect(degraded.health_reason).toMatch(/WhatsApp has not answered/)
    await until(() => !phone.live, 3000)
    const timeline = (await socket.emitWithAck('get_timeline', {
      session_id: 'quiet',
    })) as TimelineAck
    expect(timeline.events.map((e) => e.event)).toEqual(['linked', 'degraded', 'dropped'])
    expect(timeline.events[2]!.text).toMatch(/the connection was dropped/)
  })
})
