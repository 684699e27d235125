/**
 * Which web origins may use the hub from a browser (`CORS_ORIGINS`). Programs send no `Origin` and
 * are always allowed (the token is their access control); so is the hub's own web UI, whose origin
 * is the hub's address.
 */
export interface OriginPolicy {
  allows(origin: string | undefined, host: string | undefined): boolean
  /** `Access-Control-Allow-Origin` for an allowed origin. */
  allowHeader(origin: string): string
  /** Whether answers differ by `Origin` (then caches must keep them apart). */
  readonly variesByOrigin: boolean
}

export function createOriginPolicy(allowed: '*' | readonly string[]): OriginPolicy {
  if (allowed === '*') {
    return { allows: () => true, allowHeader: () => '*', variesByOrigin: false }
  }
  const list = new Set(allowed)
  return {
    allows(origin, host) {
      if (origin === undefined) return true
      const normalized = origin.toLowerCase()
      if (list.has(normalized)) return true
      const lowerHost = host?.toLowerCase()
      return (
        lowerHost !== undefined &&
        (normalized === `http://${lowerHost}` || normalized === `https://${lowerHost}`)
      )
    },
    allowHeader: (origin) => origin,
    variesByOrigin: true,
  }
}
