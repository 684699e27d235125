import type { SessionSink } from '../../server/providers/provider'
import type { Namespace, Store } from '../../server/store/store'

/**
 * A namespace in memory whose writes can be held back, like a slow disk: `hold()` makes later
 * writes wait (unapplied, unreadable) until `release()`.
 */
export class MemoryNamespace implements Namespace {
  readonly values = new Map<string, Buffer>()
  writes = 0
  private held: (() => void)[] | undefined

  hold(): void {
    this.held ??= []
  }

  release(): void {
    const waiting = this.held ?? []
    this.held = undefined
    for (const apply of waiting) apply()
  }

  async get(key: string) {
    return this.values.get(key)
  }

  async getMany(keys: readonly string[]) {
    const found = new Map<string, Buffer>()
    for (const key of keys) {
      const value = this.values.get(key)
      if (value) found.set(key, value)
    }
    return found
  }

  write(changes: Iterable<readonly [string, Buffer | null]>): Promise<void> {
    const list = [...changes]
    this.writes += 1
    const apply = () => {
      for (const [key, value] of list) {
        if (value) this.values.set(key, Buffer.from(value))
        else this.values.delete(key)
      }
    }
    if (!this.held) {
      apply()
      return Promise.resolve()
    }
    return new Promise((resolve) => {
      this.held!.push(() => {
        apply()
        resolve()
      })
    })
  }

  async keys(prefix = '') {
    return [...this.values.keys()].filter((key) => key.startsWith(prefix))
  }

  async usage(prefix = '') {
    const keys = await this.keys(prefix)
    return {
      entries: keys.length,
      bytes: keys.reduce((sum, key) => sum + this.values.get(key)!.length, 0),
    }
  }
}

/** A SessionSink that records every call in `calls`, then runs `also`'s method if given. */
export function recordingSink(also: Partial<SessionSink> = {}) {
  const calls: { method: keyof SessionSink; args: unknown[] }[] = []
  const record =
    <M extends keyof SessionSink>(method: M) =>
    (...args: Parameters<SessionSink[M]>) => {
      calls.push({ method, args })
      return (also[method] as ((...a: unknown[]) => unknown) | undefined)?.(...args)
    }
  return {
    calls,
    qr: record('qr'),
    pairingCode: record('pairingCode'),
    authenticated: async (...args: Parameters<SessionSink['authenticated']>) => {
      await record('authenticated')(...args)
    },
    reconnecting: record('reconnecting'),
    disconnected: record('disconnected'),
    message: record('message'),
  } as SessionSink & { calls: typeof calls }
}

/** A Store in memory whose writes can all be held back at once (see MemoryNamespace). */
export class MemoryStore implements Store {
  readonly hub = new MemoryNamespace()
  readonly accounts = new Map<string, MemoryNamespace>()
  private holding = false

  hold(): void {
    this.holding = true
    for (const ns of [this.hub, ...this.accounts.values()]) ns.hold()
  }

  release(): void {
    this.holding = false
    for (const ns of [this.hub, ...this.accounts.values()]) ns.release()
  }

  account(id: string): MemoryNamespace {
    let ns = this.accounts.get(id)
    if (!ns) {
      ns = new MemoryNamespace()
      if (this.holding) ns.hold()
      this.accounts.set(id, ns)
    }
    return ns
  }

  async accountIds() {
    return [...this.accounts.keys()]
  }

  /** Like the real stores: after the account's pending writes (held ones are let through). */
  async removeAccount(id: string) {
    this.accounts.get(id)?.release()
    this.accounts.delete(id)
  }

  async flush() {}
  async close() {}
}
