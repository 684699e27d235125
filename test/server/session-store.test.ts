import { describe, expect, it } from 'vitest'
import { TIMELINE_MAX, type TimelineEntry } from '../../server/protocol'
import { SessionStore, type SessionRecord } from '../../server/sessions/session-store'
import { SealError } from '../../server/store/seal'
import { getJson, putJson, utf8 } from '../../server/store/store'
import { MemoryStore } from '../helpers/memory-store'
import { recordingLogger } from '../helpers/logger'

function setup() {
  const store = new MemoryStore()
  const log = recordingLogger()
  return { store, log, sessions: new SessionStore(store, log.logger) }
}

const entry = (i: number): TimelineEntry => ({
  at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
  event: 'dropped',
  code: 428,
  text: `drop number ${i}`,
  action: 'reconnecting in 1 s',
})
const longTimeline = () => Array.from({ length: TIMELINE_MAX + 50 }, (_, i) => entry(i))

const record = (id: string): SessionRecord => ({
  id,
  provider: 'simulated',
  user: { id: '34600000001@s.whatsapp.net', name: 'Ana' },
  linked_at: '2026-01-01T00:00:00.000Z',
})

describe('an account timeline on disk', () => {
  it('stores only the newest TIMELINE_MAX entries', async () => {
    const { store, sessions } = setup()
    const entries = longTimeline()
    await sessions.open('acct').saveTimeline(entries)
    const stored = await getJson<TimelineEntry[]>(store.account('acct'), 'timeline')
    expect(stored).toHaveLength(TIMELINE_MAX)
    expect(stored![0]).toEqual(entries[entries.length - TIMELINE_MAX])
    expect(stored!.at(-1)).toEqual(entries.at(-1))
  })

  it('loads the newest TIMELINE_MAX entries of a longer stored timeline, oldest first', async () => {
    const { store, sessions, log } = setup()
    const entries = longTimeline()
    await putJson(store.account('acct'), 'timeline', entries)
    const loaded = await sessions.open('acct').loadTimeline(log.logger)
    expect(loaded).toHaveLength(TIMELINE_MAX)
    expect(loaded[0]).toEqual(entries[entries.length - TIMELINE_MAX])
    expect(loaded.at(-1)).toEqual(entries.at(-1))
  })

  it('loads an empty timeline when none is stored or the stored one is not a list', async () => {
    const { store, sessions, log } = setup()
    expect(await sessions.open('fresh').loadTimeline(log.logger)).toEqual([])
    await putJson(store.account('odd'), 'timeline', { entries: [entry(1)] })
    expect(await sessions.open('odd').loadTimeline(log.logger)).toEqual([])
    expect(log.entries).toEqual([])
  })

  it('starts the timeline again, with a warning, when the stored one cannot be read', async () => {
    const { store, sessions, log } = setup()
    await store.account('acct').write([['timeline', utf8('[{"at": "2026-')]])
    expect(await sessions.open('acct').loadTimeline(log.logger)).toEqual([])
    expect(log.entries).toHaveLength(1)
    expect(log.entries[0]).toMatchObject({
      level: 'warn',
      message: expect.stringMatching(/timeline/i),
      fields: { error: expect.any(SyntaxError) },
    })
  })
})

describe('which accounts are stored', () => {
  it('lists the accounts with valid session ids and warns about the others', async () => {
    const { store, sessions, log } = setup()
    expect(await sessions.ids()).toEqual([])
    store.account('good-1')
    store.account('bad id!')
    store.account('Good_2')
    expect(await sessions.ids()).toEqual(['good-1', 'Good_2'])
    expect(log.entries).toEqual([
      {
        level: 'warn',
        message: expect.stringMatching(/invalid session id/i),
        fields: { session_id: 'bad id!' },
      },
    ])
  })
})

describe('what load() reports for an account', () => {
  it('a linked session: its record', async () => {
    const { sessions } = setup()
    await sessions.open('acct').save(record('acct'))
    expect(await sessions.load('acct')).toEqual({ kind: 'record', record: record('acct') })
  })

  it('nothing, when the account holds neither a record nor credentials', async () => {
    const { sessions } = setup()
    await sessions.open('acct').saveTimeline([entry(1)])
    expect(await sessions.load('acct')).toEqual({ kind: 'none' })
    expect(await sessions.load('never-stored')).toEqual({ kind: 'none' })
  })

  it('an orphan, when credentials were stored but the link was never recorded', async () => {
    const { sessions } = setup()
    await putJson(sessions.open('acct').credentials, 'simulated-creds', { user: {} })
    expect(await sessions.load('acct')).toEqual({ kind: 'orphan' })
  })

  it('damaged, and logged, when the record names another session; nothing is deleted', async () => {
    const { store, sessions, log } = setup()
    await sessions.open('acct').save(record('someone-else'))
    const loaded = await sessions.load('acct')
    expect(loaded).toEqual({
      kind: 'unreadable',
      problem: { id: 'acct', reason: 'damaged', message: expect.stringMatching(/damaged/) },
    })
    expect(log.entries).toHaveLength(1)
    expect(log.entries[0]).toMatchObject({
      level: 'error',
      message: loaded.kind === 'unreadable' ? loaded.problem.message : '',
      fields: {
        session_id: 'acct',
        error: expect.objectContaining({ message: 'the record names another session' }),
      },
    })
    expect(await store.account('acct').get('record')).toBeDefined()
  })

  it('damaged when the record is not a session record', async () => {
    const { store, sessions } = setup()
    await putJson(store.account('acct'), 'record', { id: 'acct' })
    expect(await sessions.load('acct')).toMatchObject({
      kind: 'unreadable',
      problem: { id: 'acct', reason: 'damaged' },
    })
  })

  it('wrong_key when the data was sealed with another data key, and says so', async () => {
    const { store, sessions, log } = setup()
    store.account('acct').get = () =>
      Promise.reject(new SealError('wrong_key', 'sealed with key k2', 'k2'))
    const loaded = await sessions.load('acct')
    expect(loaded).toEqual({
      kind: 'unreadable',
      problem: { id: 'acct', reason: 'wrong_key', message: expect.stringMatching(/data key/) },
    })
    expect(log.entries[0]?.fields).toMatchObject({
      session_id: 'acct',
      error: expect.any(SealError),
    })
  })

  it('a failed read (a disk or Redis error) is thrown, not taken for damaged data', async () => {
    const { store, sessions, log } = setup()
    const failure = Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' })
    store.account('acct').get = () => Promise.reject(failure)
    await expect(sessions.load('acct')).rejects.toBe(failure)
    expect(log.entries).toEqual([])
  })
})

describe('flushing the session store', () => {
  it('resolves only once the underlying store has flushed', async () => {
    const { store, sessions } = setup()
    let finish!: () => void
    store.flush = () => new Promise<void>((resolve) => (finish = resolve))
    let flushed = false
    const done = sessions.flush().then(() => (flushed = true))
    await new Promise((resolve) => setImmediate(resolve))
    expect(flushed).toBe(false)
    finish()
    await done
    expect(flushed).toBe(true)
  })
})
