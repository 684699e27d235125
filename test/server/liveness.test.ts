import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { describeSilence, LivenessMonitor } from '../../server/providers/liveness'

beforeEach(() => void vi.useFakeTimers())
afterEach(() => void vi.useRealTimers())

function monitor() {
  const seen: string[] = []
  const live = new LivenessMonitor(
    90_000,
    {
      degraded: (ms) => seen.push(`degraded ${ms}`),
      recovered: () => seen.push('recovered'),
      dead: (ms) => seen.push(`dead ${ms}`),
    },
    () => Date.now(),
  )
  return { seen, live }
}

describe('LivenessMonitor', () => {
  it('says nothing while frames keep coming', () => {
    const { seen, live } = monitor()
    live.start()
    for (let i = 0; i < 20; i++) {
      vi.advanceTimersByTime(60_000)
      live.seen()
    }
    expect(seen).toEqual([])
  })

  it('degrades after one silent window, dies after two', () => {
    const { seen, live } = monitor()
    live.start()
    vi.advanceTimersByTime(89_999)
    expect(seen).toEqual([])
    vi.advanceTimersByTime(1)
    expect(seen).toEqual(['degraded 90000'])
    vi.advanceTimersByTime(89_999)
    expect(seen).toEqual(['degraded 90000'])
    vi.advanceTimersByTime(1)
    expect(seen).toEqual(['degraded 90000', 'dead 180000'])
    vi.advanceTimersByTime(500_000)
    expect(seen).toHaveLength(2) // stopped after dead
  })

  it('recovers on a frame after degrading, and counts silence from that frame', () => {
    const { seen, live } = monitor()
    live.start()
    vi.advanceTimersByTime(100_000)
    live.seen()
    expect(seen).toEqual(['degraded 90000', 'recovered'])
    vi.advanceTimersByTime(89_000)
    expect(seen).toHaveLength(2)
    vi.advanceTimersByTime(1000)
    expect(seen.at(-1)).toBe('degraded 90000')
  })

  it('watches nothing before start or after stop', () => {
    const { seen, live } = monitor()
    live.seen()
    vi.advanceTimersByTime(500_000)
    live.start()
    live.stop()
    vi.advanceTimersByTime(500_000)
    expect(seen).toEqual([])
    expect(vi.getTimerCount()).toBe(0)
  })

  it('describes silence for people', () => {
    expect(describeSilence(90_000)).toBe('WhatsApp has not answered for 90 s')
    expect(describeSilence(1500)).toBe('WhatsApp has not answered for 1.5 s')
  })
})
