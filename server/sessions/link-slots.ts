import { HubError } from '../errors'

/**
 * MAX_PENDING_PER_CLIENT: the links each connection started that still wait for a scan. A slot
 * frees itself once its link is linked or ended (`stillWaiting` says which still wait; it is asked
 * only when the connection wants another slot), and all of them when the connection leaves.
 */
export class LinkSlots {
  private readonly byClient = new Map<string, Set<string>>()

  constructor(private readonly max: number) {}

  /** Throws `limit_reached` when `client` has `max` links waiting already (this one aside). */
  async reserve(
    client: string,
    sessionId: string,
    stillWaiting: (sessionIds: string[]) => boolean[] | Promise<boolean[]>,
  ): Promise<void> {
    const started = this.byClient.get(client) ?? new Set<string>()
    if (!started.has(sessionId) && started.size >= this.max) {
      const ids = [...started]
      const waiting = await stillWaiting(ids)
      // The connection left while we asked: nothing to count for it any more.
      if (this.byClient.get(client) !== started) return
      ids.forEach((id, index) => {
        if (!waiting[index]) started.delete(id)
      })
    }
    if (!started.has(sessionId) && started.size >= this.max) {
      throw new HubError(
        'limit_reached',
        `this connection already has ${started.size} links waiting for a scan (MAX_PENDING_PER_CLIENT); finish or disconnect one first`,
        sessionId,
      )
    }
    started.add(sessionId)
    this.byClient.set(client, started)
  }

  forget(client: string): void {
    this.byClient.delete(client)
  }
}
