import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { HubError } from '../../server/errors'
import { SendLimiter } from '../../server/sessions/send-limiter'

beforeEach(() => void vi.useFakeTimers())
afterEach(() => void vi.useRealTimers())

/** Lets every already-settled promise run its callbacks, without moving the clock. */
async function settle() {
  for (let i = 0; i < 10; i++) await Promise.resolve()
}

/** Takes a turn for each name, and records the order in which they may go out. */
function sender(limiter: SendLimiter) {
  const out: string[] = []
  const failed: string[] = []
  const send = (name: string) =>
    limiter.take('acct').then(
      () => void out.push(name),
      () => void failed.push(name),
    )
  return { out, failed, send }
}

describe('SendLimiter (SEND_RATE_PER_S, SEND_BURST, SEND_QUEUE_MAX)', () => {
  it('lets a burst of messages out at once, without waiting for a timer, then queues the rest', async () => {
    const { out, send } = sender(new SendLimiter(1, 2, 5))
    void send('a')
    void send('b')
    void send('c')
    await settle()
    expect(out).toEqual(['a', 'b'])
  })

  it('sends queued messages one per earned token, in order', async () => {
    const { out, send } = sender(new SendLimiter(1, 1, 5))
    void send('a')
    void send('b')
    void send('c')
    await settle()
    expect(out).toEqual(['a'])
    await vi.advanceTimersByTimeAsync(999)
    expect(out).toEqual(['a'])
    await vi.advanceTimersByTimeAsync(1)
    expect(out).toEqual(['a', 'b'])
    await vi.advanceTimersByTimeAsync(999)
    expect(out).toEqual(['a', 'b'])
    await vi.advanceTimersByTimeAsync(1)
    expect(out).toEqual(['a', 'b', 'c'])
  })

  it('sends a queued message as soon as its token is earned, counting the part already earned', async () => {
    const { out, send } = sender(new SendLimiter(1, 1, 5))
    void send('a')
    await vi.advanceTimersByTimeAsync(500) // half a token earned
    void send('b')
    await vi.advanceTimersByTimeAsync(499)
    expect(out).toEqual(['a'])
    await vi.advanceTimersByTimeAsync(1)
    expect(out).toEqual(['a', 'b'])
  })

  it('waits for a queued message with one timer, due when its token is, rather than polling', async () => {
    const { out, send } = sender(new SendLimiter(2, 1, 5))
    void send('a')
    void send('b')
    await settle()
    const queuedAt = Date.now()
    await vi.advanceTimersToNextTimerAsync()
    expect(out).toEqual(['a', 'b'])
    expect(Date.now() - queuedAt).toBe(500)
  })

  it('keeps a message sent while others wait behind them, even when the timer runs late', async () => {
    const { out, send } = sender(new SendLimiter(1, 1, 5))
    void send('a')
    void send('b')
    await settle()
    // The clock moves on but the timer has not run yet (a busy event loop): a token is due.
    vi.setSystemTime(Date.now() + 1500)
    void send('c')
    await settle()
    expect(out).toEqual(['a'])
    await vi.advanceTimersByTimeAsync(1000)
    expect(out).toEqual(['a', 'b'])
    await vi.advanceTimersByTimeAsync(1000)
    expect(out).toEqual(['a', 'b', 'c'])
  })

  it('after a long pause sends each queued message once and keeps the spare tokens for the next', async () => {
    const { out, send } = sender(new SendLimiter(1, 2, 5))
    void send('a')
    void send('b')
    void send('c')
    await settle()
    vi.setSystemTime(Date.now() + 5000)
    await vi.advanceTimersByTimeAsync(1000)
    expect(out).toEqual(['a', 'b', 'c'])
    void send('d')
    await settle()
    expect(out).toEqual(['a', 'b', 'c', 'd'])
    void send('e')
    await settle()
    expect(out).toEqual(['a', 'b', 'c', 'd'])
  })

  it('refuses a message beyond the queue with rate_limited, saying to try again shortly', async () => {
    const limiter = new SendLimiter(1, 1, 1)
    await limiter.take('acct')
    const queued = limiter.take('acct')
    const refused = limiter.take('acct')
    await expect(refused).rejects.toBeInstanceOf(HubError)
    await expect(refused).rejects.toMatchObject({
      code: 'rate_limited',
      sessionId: 'acct',
      message: expect.stringMatching(/too many messages.*try again shortly/i),
    })
    await vi.advanceTimersByTimeAsync(1000)
    await expect(queued).resolves.toBeUndefined()
  })

  it('leaves no timer behind once its queue is empty, so an idle account costs nothing', async () => {
    const { out, send } = sender(new SendLimiter(1, 1, 5))
    void send('a')
    void send('b')
    void send('c')
    await vi.advanceTimersByTimeAsync(2000)
    expect(out).toEqual(['a', 'b', 'c'])
    expect(vi.getTimerCount()).toBe(0)
    await vi.advanceTimersByTimeAsync(60_000)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('fails every queued message as not authenticated when the session goes away', async () => {
    const limiter = new SendLimiter(1, 1, 5)
    await limiter.take('acct')
    const waiting = [limiter.take('acct'), limiter.take('acct')]
    limiter.cancel('the session was unlinked')
    for (const message of waiting) {
      await expect(message).rejects.toMatchObject({
        code: 'not_authenticated',
        message: 'the session was unlinked',
      })
    }
    expect(vi.getTimerCount()).toBe(0)
  })
})
