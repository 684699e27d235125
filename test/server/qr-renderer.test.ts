import { afterEach, describe, expect, it, vi } from 'vitest'
import type { Logger } from '../../server/logger'
import { silentLogger } from '../../server/logger'
import { createWorkerQrRenderer, loopBusy, type QrRenderer } from '../../server/qr-renderer'
import { sampledLog } from '../../server/sampled-log'
import { builtEntry } from '../helpers/child-hub'
import { decodeQrDataUrl } from '../helpers/hub'

const renderers: QrRenderer[] = []
/** The event loop as the renderer sees it: these tests are about the thread, so it is busy. */
const saturated = () => true
afterEach(async () => {
  for (const renderer of renderers.splice(0)) await renderer.close()
  vi.useRealTimers()
})

describe('the QR render thread', () => {
  it('renders decodable images off the event loop, in the order asked', async () => {
    const renderer = createWorkerQrRenderer(builtEntry('qr-worker'), silentLogger, 100, saturated)
    renderers.push(renderer)
    expect(await renderer.warm!()).toBe(true)
    const texts = Array.from({ length: 20 }, (_, i) => `2@ref-${i},noise,identity,adv`)
    const pending = texts.map((text) => renderer.render(text))
    expect(pending.every((image) => image instanceof Promise)).toBe(true)
    const order: number[] = []
    pending.forEach((image, i) => void Promise.resolve(image).then(() => order.push(i)))
    const images = await Promise.all(pending)
    expect(images.map(decodeQrDataUrl)).toEqual(texts)
    expect(order).toEqual(texts.map((_, i) => i))
  })

  it('renders in this thread, and says so once, when the thread cannot start', async () => {
    const errors: string[] = []
    const logger: Logger = { ...silentLogger, error: (message) => void errors.push(message) }
    const renderer = createWorkerQrRenderer('/nonexistent/qr-worker.js', logger, 100, saturated)
    renderers.push(renderer)
    const first = await renderer.render('2@a,b,c,d')
    expect(await renderer.warm!()).toBe(false)
    const second = renderer.render('2@e,f,g,h')
    expect(typeof second).toBe('string') // once broken, rendered here at once
    expect([first, second as string].map(decodeQrDataUrl)).toEqual(['2@a,b,c,d', '2@e,f,g,h'])
    expect(errors).toEqual([
      'The QR render thread failed; rendering in the main thread from now on',
    ])
  })

  it('renders in this thread what would wait past QR_RENDERS_WAITING_MAX', async () => {
    const renderer = createWorkerQrRenderer(builtEntry('qr-worker'), silentLogger, 2, saturated)
    renderers.push(renderer)
    await renderer.warm!()
    const answers = ['2@a,1,1,1', '2@b,1,1,1', '2@c,1,1,1'].map((text) => renderer.render(text))
    expect(answers.map((answer) => typeof answer)).toEqual(['object', 'object', 'string'])
    expect(renderer.waiting).toBe(2) // what /metrics shows as wa_link_hub_qr_renders_waiting
    expect((await Promise.all(answers)).map(decodeQrDataUrl)).toEqual([
      '2@a,1,1,1',
      '2@b,1,1,1',
      '2@c,1,1,1',
    ])
    expect(renderer.waiting).toBe(0)
  })

  it('renders in this thread while the thread loads, so the first clients of a burst do not wait for it', async () => {
    const renderer = createWorkerQrRenderer(builtEntry('qr-worker'), silentLogger, 100, saturated)
    renderers.push(renderer)
    const first = renderer.render('2@first,b,c,d')
    expect(typeof first).toBe('string')
    expect(decodeQrDataUrl(first as string)).toBe('2@first,b,c,d')
    expect(await renderer.warm!()).toBe(true)
    const later = renderer.render('2@later,b,c,d')
    expect(later).toBeInstanceOf(Promise)
    expect(decodeQrDataUrl(await later)).toBe('2@later,b,c,d')
  })

  it('fails what is still waiting when the hub stops', async () => {
    const renderer = createWorkerQrRenderer(builtEntry('qr-worker'), silentLogger, 100, saturated)
    await renderer.warm!()
    const waiting = expect(renderer.render('2@late,b,c,d')).rejects.toThrow(/stopped/)
    await renderer.close()
    await waiting
  })
})

describe('rendering in the main thread while its event loop has time', () => {
  it('renders at once and never starts the thread while the loop is not saturated', () => {
    const errors: string[] = []
    const logger: Logger = { ...silentLogger, error: (message) => void errors.push(message) }
    // A thread that cannot start would log an error the first time it was tried.
    const renderer = createWorkerQrRenderer('/nonexistent/qr-worker.js', logger, 100, () => false)
    renderers.push(renderer)
    const images = ['2@a,b,c,d', '2@e,f,g,h'].map((text) => renderer.render(text))
    expect(images.map((image) => typeof image)).toEqual(['string', 'string'])
    expect(images.map((image) => decodeQrDataUrl(image as string))).toEqual([
      '2@a,b,c,d',
      '2@e,f,g,h',
    ])
    expect(errors).toEqual([])
  })

  it('hands renders to the thread while the loop is saturated and takes them back after', async () => {
    let busy = true
    const renderer = createWorkerQrRenderer(builtEntry('qr-worker'), silentLogger, 100, () => busy)
    renderers.push(renderer)
    expect(await renderer.warm!()).toBe(true)
    const offloaded = renderer.render('2@busy,b,c,d')
    expect(offloaded).toBeInstanceOf(Promise)
    expect(decodeQrDataUrl(await offloaded)).toBe('2@busy,b,c,d')
    busy = false
    const inline = renderer.render('2@calm,b,c,d')
    expect(typeof inline).toBe('string')
    expect(decodeQrDataUrl(inline as string)).toBe('2@calm,b,c,d')
    // what /metrics shows: the one image the thread delivered, not its warm-up renders
    expect(renderer.threadRenders).toBe(1)
  })

  it('calls the loop saturated after five whole seconds at 90 % or more, and calm under 60 %', () => {
    // Each whole window the fake loop reports is one second at the next of these utilizations.
    const windows = [
      0.95, 0.97, 0.99, 0.91, 0.5, 0.95, 0.92, 0.99, 0.9, 0.96, 0.7, 0.61, 0.59, 0.95,
    ]
    let next = 0
    let whole = true
    const measure = ((mark?: unknown) => {
      if (!mark) return { idle: 0, active: 0, utilization: 0 }
      if (!whole) return { idle: 100, active: 300, utilization: 0.75 } // 400 ms: not judged yet
      const utilization = windows[next++]!
      return { idle: 1000 * (1 - utilization), active: 1000 * utilization, utilization }
    }) as typeof performance.eventLoopUtilization
    const busy = loopBusy(measure)
    const seen = windows.map(() => busy())
    // four busy seconds (a hub warming up into a burst) are not enough; five in a row are, and
    // the loop stays saturated until a second under 60 %: the 10th to 12th windows only
    expect(seen.flatMap((isBusy, i) => (isBusy ? [i] : []))).toEqual([9, 10, 11])
    whole = false
    expect(busy()).toBe(false) // a partial window keeps the last state
    expect(next).toBe(windows.length)
  })
})

describe('sampled log lines', () => {
  it('logs the first of each second one by one and sums the rest up', () => {
    vi.useFakeTimers()
    const lines: string[] = []
    const logger: Logger = { ...silentLogger, info: (message) => void lines.push(message) }
    const log = sampledLog(logger, 'Client connected', 3, { now: () => Date.now() })
    for (let i = 0; i < 10; i++) log({ client_id: String(i) })
    expect(lines).toEqual(['Client connected', 'Client connected', 'Client connected'])
    vi.advanceTimersByTime(1000)
    expect(lines.at(-1)).toBe('Client connected (7 more in that second, not listed)')
    log({ client_id: 'next' })
    expect(lines.at(-1)).toBe('Client connected')
    expect(lines).toHaveLength(5)
  })
})
