/**
 * Runs tasks with the same key one after another, so a slow older task can never finish after a
 * newer one. Different keys proceed in parallel; a key with nothing queued is forgotten.
 */
export class KeyedSerializer {
  private readonly tails = new Map<string, Promise<unknown>>()

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve()
    const next = previous.then(task, task)
    const tail = next.catch(() => undefined)
    this.tails.set(key, tail)
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key)
    })
    return next
  }

  /** Resolves once every task queued for `key` so far has finished (successfully or not). */
  settled(key: string): Promise<unknown> {
    return this.tails.get(key) ?? Promise.resolve()
  }

  /** Resolves once every task queued so far has finished. */
  async drain(): Promise<void> {
    while (this.tails.size > 0) await Promise.all([...this.tails.values()])
  }

  /** The keys with a task queued or running. */
  keys(): string[] {
    return [...this.tails.keys()]
  }

  /** How many keys have a task queued or running. */
  get size(): number {
    return this.tails.size
  }
}
