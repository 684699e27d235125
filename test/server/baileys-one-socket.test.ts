import { DisconnectReason } from '@whiskeysockets/baileys'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isLinked } from '../../server/providers/baileys-auth-store'
import { directProvider, linkPhone } from '../helpers/fake-baileys'
import { sleep } from '../helpers/hub'
import { until } from '../main/launch'

/** Operations a hub, WhatsApp and the clock may perform on one account, in any order. */
const operation = fc.oneof(
  fc.constant({ op: 'link' as const }),
  fc.constant({ op: 'link-pairing' as const }),
  fc.constant({ op: 'resume' as const }),
  fc.constant({ op: 'resume-same-session' as const }),
  fc.constant({ op: 'close' as const }),
  fc.constant({ op: 'qr' as const }),
  fc.constant({ op: 'scan' as const }),
  fc.constant({ op: 'open' as const }),
  fc.record({
    op: fc.constant('drop' as const),
    code: fc.constantFrom(
      DisconnectReason.connectionClosed,
      DisconnectReason.connectionLost,
      DisconnectReason.restartRequired,
      DisconnectReason.connectionReplaced,
      405,
      null,
    ),
  }),
  fc.record({ op: fc.constant('wait' as const), ms: fc.constantFrom(0, 1, 5, 15) }),
  fc.constant({ op: 'settle' as const }),
)

describe('one socket per account', () => {
  it('overlapping link, resume, reconnect and close never leave two live sockets', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(operation, { minLength: 5, maxLength: 25 }), async (ops) => {
        const t = directProvider()
        const pending: Promise<unknown>[] = []
        const session = () => ({ ...t.session })
        // Start linked, so resumes have credentials to resume.
        await linkPhone(t.provider, t.fake, t.session, t.calls)
        for (const step of ops) {
          const socket = t.fake.last()
          switch (step.op) {
            case 'link':
              pending.push(t.provider.link(session(), {}).catch(() => undefined))
              break
            case 'link-pairing':
              pending.push(
                t.provider.link(session(), { phoneNumber: '34600111222' }).catch(() => undefined),
              )
              break
            case 'resume':
              pending.push(t.provider.resume(session()).catch(() => undefined))
              break
            case 'resume-same-session':
              pending.push(t.provider.resume(t.session).catch(() => undefined))
              break
            case 'close':
              pending.push(t.provider.close(t.session.id))
              break
            case 'qr':
              if (socket.live) socket.pairDevice()
              break
            case 'scan':
              if (socket.live) socket.scanned()
              break
            case 'open':
              if (socket.live) socket.open()
              break
            case 'drop':
              if (socket.live) socket.drop(step.code)
              break
            case 'wait':
              await sleep(step.ms)
              break
            case 'settle':
              await Promise.all(pending.splice(0))
              break
          }
          // Only a new socket can raise the count; the fake measures it at every creation.
          expect(t.fake.live().length).toBeLessThanOrEqual(1)
          expect(t.fake.maxLive()).toBeLessThanOrEqual(1)
        }
        await Promise.all(pending)
        await sleep(60) // reconnect timers (backoff 10-40 ms) fire
        expect(t.fake.maxLive()).toBeLessThanOrEqual(1)
        await t.provider.shutdown()
        expect(t.fake.live()).toEqual([])
        // Nothing is kept for the account once every operation has settled.
        expect(t.counted.gauges().memory()).toMatchObject({ operations: 0, inbox: 0 })
      }),
      { numRuns: 40 },
    )
  })

  it('a second resume of a connected account keeps its socket and reports to the new caller', async () => {
    const t = directProvider()
    const phone = await linkPhone(t.provider, t.fake, t.session, t.calls)
    const sockets = t.fake.sockets.length
    await t.provider.resume(t.session)
    await until(() => t.of('authenticated').length === 2)
    expect(t.fake.sockets).toHaveLength(sockets)
    expect(phone.live).toBe(true)
    await t.provider.shutdown()
  })

  it('a new link over a connected one ends it and starts from fresh credentials', async () => {
    const t = directProvider()
    const phone = await linkPhone(t.provider, t.fake, t.session, t.calls)
    await t.provider.link(t.session, {})
    expect(phone.live).toBe(false)
    expect(t.fake.live()).toEqual([t.fake.last()])
    expect(isLinked(t.fake.last().config.auth.creds)).toBe(false)
    expect(t.fake.last().config.auth.creds.me).toBeUndefined()
    await t.provider.shutdown()
  })

  it('concurrent link calls for one account create their sockets one after the other', async () => {
    const t = directProvider()
    await Promise.all([
      t.provider.link(t.session, {}),
      t.provider.link({ ...t.session }, {}),
      t.provider.link({ ...t.session }, {}),
    ])
    expect(t.fake.sockets).toHaveLength(3)
    expect(t.fake.maxLive()).toBe(1)
    expect(t.fake.live()).toEqual([t.fake.last()])
    await t.provider.shutdown()
  })
})
