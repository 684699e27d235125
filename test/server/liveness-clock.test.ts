import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { describeSilence, LivenessMonitor } from '../../server/providers/liveness'

beforeEach(() => void vi.useFakeTimers())
afterEach(() => void vi.useRealTimers())

const SILENCE_MS = 90_000

/** A monitor on a clock that can lag behind the timers (timers that fire early, a clock step). */
function monitor() {
  const seen: string[] = []
  const clock = { lagMs: 0, reads: 0 }
  const live = new LivenessMonitor(
    SILENCE_MS,
    {
      degraded: (ms) => seen.push(`degraded ${ms}`),
      recovered: () => seen.push('recovered'),
      dead: (ms) => seen.push(`dead ${ms}`),
    },
    () => {
      clock.reads += 1
      return Date.now() - clock.lagMs
    },
  )
  return { seen, live, clock }
}

describe('LivenessMonitor and its clock', () => {
  it('declares a connection dead only after two windows of silence by its clock, even when its timer fires early', () => {
    const { seen, live, clock } = monitor()
    live.start()
    vi.advanceTimersByTime(SILENCE_MS)
    expect(seen).toEqual([`degraded ${SILENCE_MS}`])
    clock.lagMs = 30_000
    vi.advanceTimersByTime(SILENCE_MS)
    // The clock says only 1⅔ windows of silence: not dead yet.
    expect(seen).toEqual([`degraded ${SILENCE_MS}`])
    vi.advanceTimersByTime(clock.lagMs - 1)
    expect(seen).toEqual([`degraded ${SILENCE_MS}`])
    vi.advanceTimersByTime(1)
    expect(seen).toEqual([`degraded ${SILENCE_MS}`, `dead ${2 * SILENCE_MS}`])
  })

  it('waits for the rest of the second window with one timer instead of polling the clock', () => {
    const { seen, live, clock } = monitor()
    live.start()
    vi.advanceTimersByTime(SILENCE_MS)
    clock.lagMs = 30_000
    vi.advanceTimersByTime(SILENCE_MS)
    const reads = clock.reads
    vi.advanceTimersByTime(clock.lagMs)
    expect(seen.at(-1)).toBe(`dead ${2 * SILENCE_MS}`)
    expect(clock.reads - reads).toBeLessThanOrEqual(2)
  })

  it('says nothing more once stopped by whoever it told the connection was degraded', () => {
    const seen: string[] = []
    const live: LivenessMonitor = new LivenessMonitor(SILENCE_MS, {
      degraded: (ms) => {
        seen.push(`degraded ${ms}`)
        live.stop() // e.g. the account was closed because of it
      },
      recovered: () => seen.push('recovered'),
      dead: (ms) => seen.push(`dead ${ms}`),
    })
    live.start()
    vi.advanceTimersByTime(10 * SILENCE_MS)
    live.seen()
    expect(seen).toEqual([`degraded ${SILENCE_MS}`])
  })

  it('describes silence in whole seconds from 10 s, in tenths below', () => {
    expect(describeSilence(10_000)).toBe('WhatsApp has not answered for 10 s')
    expect(describeSilence(9_500)).toBe('WhatsApp has not answered for 9.5 s')
  })
})
