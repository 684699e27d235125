import { afterEach, describe, expect, it, vi } from 'vitest'
import type { IncomingMessage, Simulator } from '../../server/providers/provider'
import { localCommands } from '../../server/sessions/session-commands'
import { handProvider, managerHarness } from '../helpers/session-manager'

const ana = { id: '34600111222@s.whatsapp.net', name: 'Ana' }

afterEach(() => void vi.useRealTimers())

/** A simulator whose delivered messages the test can see. */
function simulator() {
  const delivered: IncomingMessage[] = []
  const sim: Simulator = {
    scan: async () => 'ok',
    silence: () => undefined,
    deliver: (_sessionId, from, text) => {
      const message: IncomingMessage = {
        id: `SIM${delivered.length + 1}`,
        from: `${from}@s.whatsapp.net`,
        text,
        kind: 'text',
        timestamp: new Date(),
      }
      delivered.push(message)
      return message
    },
  }
  return { delivered, sim }
}

describe('session commands answered by this hub', () => {
  it('simulate-message refuses a session not linked yet, and delivers nothing', async () => {
    const { delivered, sim } = simulator()
    const h = managerHarness({ provider: handProvider({ simulator: sim }).provider })
    const commands = localCommands(h.manager)
    await h.requestLink('chat')
    expect(h.manager.status('chat').status).not.toBe('authenticated')
    await expect(commands.simulateMessage('chat', '34600999888', 'hi')).rejects.toMatchObject({
      code: 'not_authenticated',
    })
    expect(delivered).toEqual([])
  })

  it('simulate-message on a linked session answers { id } and nothing else of the message', async () => {
    const { delivered, sim } = simulator()
    const hand = handProvider({ simulator: sim })
    const h = managerHarness({ provider: hand.provider })
    const commands = localCommands(h.manager)
    await h.requestLink('chat')
    await hand.sink('chat').authenticated(ana)
    expect(h.manager.status('chat').status).toBe('authenticated')
    const answer = await commands.simulateMessage('chat', '34600999888', 'hi')
    expect(delivered).toHaveLength(1)
    expect(answer).toEqual({ id: delivered[0]!.id })
  })

  it('simulate-message is unsupported by a provider without a simulator', async () => {
    const h = managerHarness()
    const commands = localCommands(h.manager)
    await h.requestLink('real')
    await h.hand.sink('real').authenticated(ana)
    expect(await commands.simulateMessage('real', '34600999888', 'hi')).toBe('unsupported')
  })

  it('touch restarts the idle clock of a session whose watcher left', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const h = managerHarness({ env: { SESSION_IDLE_MS: '1000' } })
    const commands = localCommands(h.manager)
    await h.requestLink('watched')
    await h.requestLink('forgotten')
    vi.setSystemTime(Date.now() + 600)
    commands.touch('watched')
    expect(await h.manager.sweepIdle(Date.now() + 500)).toBe(1)
    expect(h.manager.has('forgotten')).toBe(false)
    expect(h.manager.has('watched')).toBe(true)
  })

  it('forgetClient frees the links a departed connection had waiting for a scan', async () => {
    const h = managerHarness({ env: { MAX_PENDING_PER_CLIENT: '1' } })
    const commands = localCommands(h.manager)
    await h.requestLink('first', undefined, 'conn-1')
    await expect(h.requestLink('second', undefined, 'conn-1')).rejects.toMatchObject({
      code: 'limit_reached',
    })
    commands.forgetClient('conn-1')
    await expect(h.requestLink('second', undefined, 'conn-1')).resolves.toBeDefined()
  })
})
