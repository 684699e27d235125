import type { SessionPage, StatusEvent } from './protocol'

export interface Page<T> {
  items: T[]
  /** The key of the page's last item, when more items follow. */
  nextCursor?: string
}

/**
 * One page of `items` in the order of `key` (plain code-unit order, the same on every call), with
 * the items after `cursor`. Keyset paging: an item added or removed between two calls neither
 * repeats nor hides another.
 */
export function pageByKey<T>(
  items: readonly T[],
  key: (item: T) => string,
  limit: number,
  cursor?: string,
): Page<T> {
  const after = cursor === undefined ? [...items] : items.filter((item) => key(item) > cursor)
  after.sort((a, b) => {
    const ka = key(a)
    const kb = key(b)
    return ka < kb ? -1 : ka > kb ? 1 : 0
  })
  const page = after.slice(0, limit)
  const last = page.at(-1)
  return after.length > limit && last !== undefined
    ? { items: page, nextCursor: key(last) }
    : { items: page }
}

/** A page of session statuses, as `list_sessions` and `GET /api/sessions` answer. */
export function sessionPage(
  statuses: readonly StatusEvent[],
  query: { limit: number; cursor?: string | undefined },
): SessionPage {
  const page = pageByKey(statuses, (status) => status.session_id, query.limit, query.cursor)
  return page.nextCursor === undefined
    ? { sessions: page.items }
    : { sessions: page.items, next_cursor: page.nextCursor }
}
