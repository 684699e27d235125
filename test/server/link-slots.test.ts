import { describe, expect, it } from 'vitest'
import { LinkSlots } from '../../server/sessions/link-slots'

const allWaiting = (ids: string[]) => ids.map(() => true)

describe('LinkSlots (MAX_PENDING_PER_CLIENT)', () => {
  it('refuses a connection another link while its links all still wait for a scan', async () => {
    const slots = new LinkSlots(2)
    await slots.reserve('conn', 'a', allWaiting)
    await slots.reserve('conn', 'b', allWaiting)
    await expect(slots.reserve('conn', 'c', allWaiting)).rejects.toMatchObject({
      code: 'limit_reached',
      sessionId: 'c',
    })
    // Asking again for a link it already started is not another link.
    await expect(slots.reserve('conn', 'a', allWaiting)).resolves.toBeUndefined()
    // Other connections have their own allowance.
    await expect(slots.reserve('other', 'c', allWaiting)).resolves.toBeUndefined()
  })

  it('frees the slot of a link that no longer waits (linked or ended)', async () => {
    const slots = new LinkSlots(1)
    await slots.reserve('conn', 'a', allWaiting)
    await slots.reserve('conn', 'b', () => [false])
    await expect(slots.reserve('conn', 'c', allWaiting)).rejects.toMatchObject({
      code: 'limit_reached',
    })
  })

  it('frees every slot of a connection that leaves', async () => {
    const slots = new LinkSlots(1)
    await slots.reserve('conn', 'a', allWaiting)
    slots.forget('conn')
    await expect(slots.reserve('conn', 'b', allWaiting)).resolves.toBeUndefined()
  })

  it('does not refuse a connection that left while its links were being checked', async () => {
    const slots = new LinkSlots(1)
    await slots.reserve('conn', 'a', allWaiting)
    const asked: string[][] = []
    await expect(
      slots.reserve('conn', 'b', (ids) => {
        asked.push(ids)
        slots.forget('conn') // the connection drops during the check
        return Promise.resolve(allWaiting(ids))
      }),
    ).resolves.toBeUndefined()
    expect(asked).toEqual([['a']])
    // Nothing was kept for the connection that left: a new one with its id starts afresh.
    await expect(slots.reserve('conn', 'c', allWaiting)).resolves.toBeUndefined()
  })
})
