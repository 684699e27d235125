import { DEFAULT_CONNECTION_CONFIG, type WAVersion } from '@whiskeysockets/baileys'
import { describe, expect, it } from 'vitest'
import {
  createVersionSource,
  VERSION_LOOKUP_MIN_INTERVAL_MS,
  VERSION_MAX_AGE_MS,
  type VersionLookup,
} from '../../server/providers/baileys-version'
import { directProvider, linkPhone } from '../helpers/fake-baileys'
import { recordingLogger } from '../helpers/logger'
import { sleep } from '../helpers/hub'
import { until } from '../main/launch'

const answer =
  (version: WAVersion): VersionLookup =>
  async () => ({ version, isLatest: true })
/** How Baileys' lookups report a failure: they never throw (generics.js:206-212, :237-258). */
const failure: VersionLookup = async () => ({
  version: DEFAULT_CONNECTION_CONFIG.version,
  isLatest: false,
  error: new Error('Failed to fetch sw.js: Forbidden'),
})
const never: VersionLookup = () => new Promise(() => {})
/** A lookup failing the way Baileys reports it, with whatever it caught. */
const failingWith =
  (error: unknown): VersionLookup =>
  async () => ({ version: DEFAULT_CONNECTION_CONFIG.version, isLatest: false, error })
const COULD_NOT_LOOK_UP =
  'Could not look up the current WhatsApp Web version; using the one at hand'

function counted(lookup: VersionLookup) {
  const calls = { count: 0 }
  const wrapped: VersionLookup = (options) => {
    calls.count += 1
    return lookup(options)
  }
  return Object.assign(wrapped, { calls })
}

describe('WhatsApp Web version', () => {
  it("asks WhatsApp Web first, and uses Baileys' pinned version only when that fails", async () => {
    const results: string[] = []
    const baileys = counted(answer([2, 3000, 2]))
    const fromWeb = createVersionSource({
      lookups: { waWeb: answer([2, 3000, 1]), baileys },
      logger: recordingLogger().logger,
      onLookup: (result) => results.push(result),
    })
    expect((await fromWeb.refresh()).version).toEqual([2, 3000, 1])
    expect(baileys.calls.count).toBe(0)

    const fallback = createVersionSource({
      lookups: { waWeb: failure, baileys: answer([2, 3000, 2]) },
      logger: recordingLogger().logger,
      onLookup: (result) => results.push(result),
    })
    expect(await fallback.refresh()).toMatchObject({ version: [2, 3000, 2], source: 'baileys' })
    expect(results).toEqual(['wa_web', 'baileys'])
  })

  it('keeps the version at hand when both lookups fail, and says so', async () => {
    const log = recordingLogger()
    const results: string[] = []
    const source = createVersionSource({
      lookups: { waWeb: failure, baileys: failure },
      logger: log.logger,
      onLookup: (result) => results.push(result),
    })
    expect(await source.refresh()).toMatchObject({
      version: DEFAULT_CONNECTION_CONFIG.version,
      source: 'bundled',
    })
    expect(results).toEqual(['failed'])
    expect(
      log.find('Could not look up the current WhatsApp Web version; using the one at hand'),
    ).toHaveLength(1)
  })

  it('gives up on a lookup that hangs, after its timeout', async () => {
    const source = createVersionSource({
      lookups: { waWeb: never, baileys: never },
      logger: recordingLogger().logger,
      timeoutMs: 50,
    })
    expect((await source.refresh()).source).toBe('bundled')
  })

  it('cancels the request of a lookup that hangs, and logs that it timed out', async () => {
    const log = recordingLogger()
    const signals: (AbortSignal | null | undefined)[] = []
    const hangs: VersionLookup = (options) => {
      signals.push(options?.signal)
      return new Promise(() => {})
    }
    const source = createVersionSource({
      lookups: { waWeb: hangs, baileys: hangs },
      logger: log.logger,
      timeoutMs: 50,
    })
    await source.refresh()
    expect(signals).toHaveLength(2)
    await until(() => signals.every((signal) => signal?.aborted), 1000)
    expect(log.find(COULD_NOT_LOOK_UP).map((e) => e.fields)).toEqual([
      {
        version: DEFAULT_CONNECTION_CONFIG.version.join('.'),
        wa_web_error: 'timed out',
        baileys_error: 'timed out',
      },
    ])
  })

  it('when both lookups fail later, keeps the last version found and logs why each failed', async () => {
    let now = 1_000_000
    let waWeb: VersionLookup = answer([2, 3000, 7])
    const log = recordingLogger()
    const source = createVersionSource({
      lookups: { waWeb: (options) => waWeb(options), baileys: failingWith('Not Found') },
      logger: log.logger,
      now: () => now,
    })
    await source.refresh()
    now += VERSION_LOOKUP_MIN_INTERVAL_MS
    // fetchLatestWaWebVersion's answer when sw.js lacks the revision (generics.js:237-244).
    waWeb = failingWith({ message: 'Could not find client revision in the fetched content' })
    expect(await source.refresh()).toEqual({
      version: [2, 3000, 7],
      source: 'wa_web',
      at: 1_000_000,
    })
    expect(log.find(COULD_NOT_LOOK_UP).map((e) => e.fields)).toEqual([
      {
        version: '2.3000.7',
        wa_web_error: 'Could not find client revision in the fetched content',
        baileys_error: 'Not Found',
      },
    ])
  })

  it('still answers, and logs what it got, when a lookup fails with something other than an Error', async () => {
    const log = recordingLogger()
    const source = createVersionSource({
      lookups: { waWeb: failingWith('ECONNRESET'), baileys: failingWith(null) },
      logger: log.logger,
    })
    expect((await source.refresh()).source).toBe('bundled')
    expect(log.find(COULD_NOT_LOOK_UP)[0]?.fields).toMatchObject({
      wa_web_error: 'ECONNRESET',
      baileys_error: 'null',
    })
  })

  it('adopts only an answer marked as the latest', async () => {
    const log = recordingLogger()
    const results: string[] = []
    const notLatest: VersionLookup = async () => ({ version: [2, 3000, 5], isLatest: false })
    const source = createVersionSource({
      lookups: { waWeb: notLatest, baileys: notLatest },
      logger: log.logger,
      onLookup: (result) => results.push(result),
    })
    expect(await source.refresh()).toMatchObject({
      version: DEFAULT_CONNECTION_CONFIG.version,
      source: 'bundled',
    })
    expect(source.current()).toEqual(DEFAULT_CONNECTION_CONFIG.version)
    expect(results).toEqual(['failed'])
    const [warning] = log.find(COULD_NOT_LOOK_UP)
    expect(warning?.fields).toMatchObject({ wa_web_error: undefined, baileys_error: undefined })
  })

  it('logs the version it switches to, once per change, with where it came from', async () => {
    let now = 1_000_000
    let waWeb: VersionLookup = answer([2, 3000, 7])
    const log = recordingLogger()
    const source = createVersionSource({
      lookups: { waWeb: (options) => waWeb(options), baileys: answer([2, 3000, 8]) },
      logger: log.logger,
      now: () => now,
    })
    const versionsLogged = () => log.find('Using WhatsApp Web version').map((e) => e.fields)
    await source.refresh()
    expect(versionsLogged()).toEqual([{ version: '2.3000.7', source: 'wa_web' }])
    now += VERSION_LOOKUP_MIN_INTERVAL_MS
    await source.refresh() // the same answer again: nothing new to say
    expect(versionsLogged()).toHaveLength(1)
    now += VERSION_LOOKUP_MIN_INTERVAL_MS
    waWeb = failure
    await source.refresh()
    expect(versionsLogged()).toEqual([
      { version: '2.3000.7', source: 'wa_web' },
      { version: '2.3000.8', source: 'baileys' },
    ])
  })

  it('does not log a switch when the lookup confirms the bundled version', async () => {
    const log = recordingLogger()
    const source = createVersionSource({
      lookups: { waWeb: answer(DEFAULT_CONNECTION_CONFIG.version), baileys: failure },
      logger: log.logger,
    })
    expect((await source.refresh()).source).toBe('wa_web')
    expect(log.find('Using WhatsApp Web version')).toEqual([])
  })

  it('concurrent refreshes share one lookup and all get its answer', async () => {
    const waWeb = counted(answer([2, 3000, 7]))
    const source = createVersionSource({
      lookups: { waWeb, baileys: failure },
      logger: recordingLogger().logger,
    })
    const [first, second] = await Promise.all([source.refresh(), source.refresh()])
    expect(first.version).toEqual([2, 3000, 7])
    expect(second).toEqual(first)
    expect(waWeb.calls.count).toBe(1)
  })

  it(`looks a version up again once it is ${VERSION_MAX_AGE_MS / 3600_000} h old, not before`, async () => {
    let now = 1_760_000_000_000 // a real clock's reading: the bundled version is long stale
    const waWeb = counted(answer([2, 3000, 7]))
    const source = createVersionSource({
      lookups: { waWeb, baileys: failure },
      logger: recordingLogger().logger,
      now: () => now,
    })
    expect(source.current()).toEqual(DEFAULT_CONNECTION_CONFIG.version) // never waits
    await until(() => source.current()[2] === 7)
    expect(waWeb.calls.count).toBe(1)
    const lookedUpAt = now
    now = lookedUpAt + VERSION_LOOKUP_MIN_INTERVAL_MS
    source.current()
    now = lookedUpAt + VERSION_MAX_AGE_MS - 1
    source.current()
    expect(waWeb.calls.count).toBe(1)
    now = lookedUpAt + VERSION_MAX_AGE_MS
    source.current()
    expect(waWeb.calls.count).toBe(2)
  })

  it('caches the answer with its time; a stale one is looked up again in the background', async () => {
    let now = 1_000_000
    const waWeb = counted(answer([2, 3000, 7]))
    const source = createVersionSource({
      lookups: { waWeb, baileys: failure },
      logger: recordingLogger().logger,
      now: () => now,
    })
    await source.refresh()
    now += 1000
    expect(source.current()).toEqual([2, 3000, 7])
    expect(await source.refresh()).toMatchObject({ at: 1_000_000 }) // within the minute: reused
    expect(waWeb.calls.count).toBe(1)
    now += VERSION_MAX_AGE_MS
    source.current()
    await until(() => waWeb.calls.count === 2)
    expect((await source.refresh()).at).toBe(now) // the new answer, reused within the minute
  })

  it('never makes a link wait: the first socket uses the bundled version while the lookup hangs', async () => {
    const t = directProvider({}, { versionLookups: { waWeb: never, baileys: never } })
    await t.provider.link(t.session, {})
    await until(() => t.fake.sockets.length === 1)
    expect(t.fake.last().config.version).toEqual(DEFAULT_CONNECTION_CONFIG.version)
    await t.provider.shutdown()
  })

  it('on 405 (outdated client) looks the version up again and reconnects once with it', async () => {
    let now = 1_000_000
    const versions: WAVersion[] = [
      [2, 3000, 1],
      [2, 3000, 9],
    ]
    const waWeb = counted(async () => ({ version: versions.shift()!, isLatest: true }))
    const t = directProvider({}, { versionLookups: { waWeb, baileys: failure }, now: () => now })
    const phone = await linkPhone(t.provider, t.fake, t.session, t.calls)
    expect(phone.config.version).toEqual([2, 3000, 1])
    const sockets = t.fake.sockets.length
    now += VERSION_LOOKUP_MIN_INTERVAL_MS
    phone.drop(405, 'Connection Failure')
    await until(() => t.fake.sockets.length === sockets + 1)
    expect(waWeb.calls.count).toBe(2)
    expect(t.fake.last().config.version).toEqual([2, 3000, 9])
    const [active, detail] = t.of('reconnecting').at(-1)!
    expect(active).toBe(true)
    expect(detail).toMatchObject({ code: 405, retryInMs: expect.any(Number) })
    expect(detail?.message).toMatch(/2\.3000\.1 as outdated; looking up the current version/)
    await sleep(50)
    expect(t.fake.sockets).toHaveLength(sockets + 1) // one reconnect, not a burst
    await t.provider.shutdown()
  })
})
