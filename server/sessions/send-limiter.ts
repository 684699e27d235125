import { HubError } from '../errors'
import { fullBucket, refill, type TokenBucket } from '../token-bucket'

/**
 * Paces one account's outgoing WhatsApp messages: `ratePerS` with bursts of `burst`, then a queue
 * of at most `queueMax` waiting messages; beyond that a `rate_limited` error. Sending too fast is
 * how accounts get banned.
 */
export class SendLimiter {
  private readonly bucket: TokenBucket
  private readonly queue: { resolve: () => void; reject: (error: Error) => void }[] = []
  private timer?: NodeJS.Timeout

  constructor(
    private readonly ratePerS: number,
    private readonly burst: number,
    private readonly queueMax: number,
  ) {
    this.bucket = fullBucket(burst)
  }

  /** Resolves when this message may go out. */
  take(sessionId: string): Promise<void> {
    refill(this.bucket, this.ratePerS, this.burst)
    if (this.queue.length === 0 && this.bucket.tokens >= 1) {
      this.bucket.tokens -= 1
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

  private schedule(): void {
    if (this.timer || this.queue.length === 0) return
    const wait = Math.max(0, ((1 - this.bucket.tokens) / this.ratePerS) * 1000)
    this.timer = setTimeout(() => {
      this.timer = undefined
      refill(this.bucket, this.ratePerS, this.burst)
      while (this.queue.length > 0 && this.bucket.tokens >= 1) {
        this.bucket.tokens -= 1
        this.queue.shift()!.resolve()
      }
      this.schedule()
    }, Math.ceil(wait))
  }
}
