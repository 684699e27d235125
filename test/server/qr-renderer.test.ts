import { afterEach, describe, expect, it, vi } from 'vitest'
import type { Logger } from '../../server/logger'
import { silentLogger } from '../../server/logger'
import { createWorkerQrRenderer, type QrRenderer } from '../../server/qr-renderer'
import { sampledLog } from '../../server/sampled-log'
import { builtEntry } from '../helpers/child-hub'
import { decodeQrDataUrl } from '../helpers/hub'

const renderers: QrRenderer[] = []
afterEach(async () => {
  for (const renderer of renderers.splice(0)) await renderer.close()
  vi.useRealTimers()
})

describe('the QR render thread', () => {
  it('renders decodable images off the event loop, in the order asked', async () => {
    const renderer = createWorkerQrRenderer(builtEntry('qr-worker'), silentLogger, 100)
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
    const renderer = createWorkerQrRenderer('/nonexistent/qr-worker.js', logger, 100)
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
    const renderer = createWorkerQrRenderer(builtEntry('qr-worker'), silentLogger, 2)
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
    const renderer = createWorkerQrRenderer(builtEntry('qr-worker'), silentLogger, 100)
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
    const renderer = createWorkerQrRenderer(builtEntry('qr-worker'), silentLogger, 100)
    await renderer.warm!()
    const waiting = expect(renderer.render('2@late,b,c,d')).rejects.toThrow(/stopped/)
    await renderer.close()
    await waiting
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
