import type { Socket } from 'socket.io-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SessionPage, StatusEvent } from '../../server/protocol'
import { startTestHub, type TestHub } from '../helpers/hub'

let t: TestHub
let socket: Socket
// More than one default page (100), created out of order.
const ids = Array.from({ length: 120 }, (_, i) => `s-${String((i * 37) % 120).padStart(3, '0')}`)
const sorted = [...ids].sort()

beforeAll(async () => {
  t = await startTestHub({
    RATE_LIMIT_PER_S: '10000',
    RATE_LIMIT_BURST: '10000',
    MAX_PENDING_PER_CLIENT: '1000',
  })
  socket = await t.connect()
  for (const id of ids) await socket.emitWithAck('get_qr', { session_id: id })
})
afterAll(async () => {
  await t.close(true)
})

const idsOf = (page: SessionPage) => page.sessions.map((status: StatusEvent) => status.session_id)

describe('list_sessions paging', () => {
  it('answers the first 100 sessions by id, and a cursor to the rest', async () => {
    const first = await socket.emitWithAck('list_sessions', {})
    expect(first.ok).toBe(true)
    expect(idsOf(first)).toEqual(sorted.slice(0, 100))
    expect(first.next_cursor).toBe(sorted[99])
    const rest = await socket.emitWithAck('list_sessions', { cursor: first.next_cursor })
    expect(idsOf(rest)).toEqual(sorted.slice(100))
    expect(rest).not.toHaveProperty('next_cursor')
  })

  it('walks every session once, in order, a page of `limit` at a time', async () => {
    const seen: string[] = []
    let cursor: string | undefined
    let pages = 0
    do {
      const page = await socket.emitWithAck('list_sessions', {
        limit: 7,
        ...(cursor ? { cursor } : {}),
      })
      expect(page.sessions.length).toBeLessThanOrEqual(7)
      seen.push(...idsOf(page))
      cursor = page.next_cursor
      pages += 1
    } while (cursor)
    expect(seen).toEqual(sorted)
    expect(pages).toBe(Math.ceil(120 / 7))
  })

  it('answers up to 500 at once, and refuses more', async () => {
    const all = await socket.emitWithAck('list_sessions', { limit: 500 })
    expect(idsOf(all)).toEqual(sorted)
    expect(all).not.toHaveProperty('next_cursor')
    expect(await socket.emitWithAck('list_sessions', { limit: 501 })).toMatchObject({
      ok: false,
      error: { code: 'invalid_payload', message: 'limit: limit must be at most 500' },
    })
  })

  it.each([
    [{ limit: 0 }],
    [{ limit: 1.5 }],
    [{ limit: '10' }],
    [{ cursor: 'not a session id' }],
    [{ cursor: 5 }],
  ])('refuses %j with invalid_payload', async (payload) => {
    expect(await socket.emitWithAck('list_sessions', payload)).toMatchObject({
      ok: false,
      error: { code: 'invalid_payload' },
    })
  })

  it('a new session after the cursor shows up on a later page; none repeats', async () => {
    const first = await socket.emitWithAck('list_sessions', { limit: 60 })
    await socket.emitWithAck('get_qr', { session_id: 's-999' })
    const second = await socket.emitWithAck('list_sessions', {
      limit: 500,
      cursor: first.next_cursor,
    })
    expect(idsOf(second)).toEqual([...sorted.slice(60), 's-999'])
  })
})

describe('GET /api/sessions paging', () => {
  it('pages with ?limit= and ?cursor= like list_sessions', async () => {
    const first = (await (await t.fetch('/api/sessions?limit=50')).json()) as SessionPage
    expect(idsOf(first)).toEqual(sorted.slice(0, 50))
    expect(first.next_cursor).toBe(sorted[49])
    const next = await t.fetch(`/api/sessions?limit=50&cursor=${first.next_cursor}`)
    expect(idsOf((await next.json()) as SessionPage)).toEqual(sorted.slice(50, 100))
    const byDefault = (await (await t.fetch('/api/sessions')).json()) as SessionPage
    expect(byDefault.sessions).toHaveLength(100)
  })

  it.each(['limit=abc', 'limit=0', 'limit=501', 'limit=-1', 'limit=', 'cursor=%20'])(
    '?%s is a 400 invalid_payload',
    async (query) => {
      const res = await t.fetch(`/api/sessions?${query}`)
      expect(res.status).toBe(400)
      expect(await res.json()).toMatchObject({ code: 'invalid_payload' })
    },
  )
})
