import { HubError } from '../errors'

/**
 * Paces one account's outgoing WhatsApp messages: `ratePerS` with bursts of `burst`, then a queue
 * of at most `queueMax` waiting messages; beyond that a `rate_limited` error. Sending too fast is
 * how accounts get banned.
 */
export class SendLimiter {
  private tokens: number
  private refilledAt = Date.now()
  private readonly queue: { resolve: () => void; reject: (error: Error) => void }[] = []
  private timer?: NodeJS.Timeout

  constructor(
    private readonly ratePerS: number,
    private readonly burst: number,
    private readonly queueMax: number,
  ) {
    this.tokens = burst
  }

  /** Resolves when this message may go out. */
  take(sessionId: string): Promise<void> {
    this.refill()
    if (this.queue.length === 0 && this.tokens >= 1) {
      this.tokens -= 1
      return Promise.resolve()
    }
    if (this.queue.length >= this.queueMax) {
      return Promise.reject(
        new HubError(
          'rate_limited',
          'Too many messages for this account; try again shortly',
          sessionId,
        ),
      )
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ resolve, reject })
      this.schedule()
    })
  }

  /** Fails every queued message (the session went away). */
  cancel(reason: string): void {
    clearTimeout(this.timer)
    this.timer = undefined
    for (const waiter of this.queue.splice(0))
      waiter.reject(new HubError('not_authenticated', reason))
  }

  get waiting(): number {
    return this.queue.length
  }

  private refill(): void {
    const now = Date.now()
    this.tokens = Math.min(
      this.burst,
      this.tokens + ((now - this.refilledAt) / 1000) * this.ratePerS,
    )
    this.refilledAt = now
  }

  private schedule(): void {
    if (this.timer || this.queue.length === 0) return
    const wait = Math.max(0, ((1 - this.tokens) / this.ratePerS) * 1000)
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.refill()
      while (this.queue.length > 0 && this.tokens >= 1) {
        this.tokens -= 1
        this.queue.shift()!.resolve()
      }
      this.schedule()
    }, Math.ceil(wait))
  }
}
