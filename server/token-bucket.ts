/** A token bucket's whole state: two numbers, so a connection can carry one cheaply. */
export interface TokenBucket {
  tokens: number
  refilledAt: number
}

export function fullBucket(burst: number, now = Date.now()): TokenBucket {
  return { tokens: burst, refilledAt: now }
}

/** Adds the tokens earned since the last refill at `ratePerS`, never above `burst`. */
export function refill(
  bucket: TokenBucket,
  ratePerS: number,
  burst: number,
  now = Date.now(),
): void {
  bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.refilledAt) / 1000) * ratePerS)
  bucket.refilledAt = now
}
