import { PNG } from 'pngjs'
import { describe, expect, it } from 'vitest'
import { renderQrDataUrl } from '../../server/qr'
import { decodeQrDataUrl } from '../helpers/hub'

describe('renderQrDataUrl', () => {
  it('renders a PNG that decodes back to the same text', () => {
    const text = `2@${'x'.repeat(40)},${'A'.repeat(43)}=,${'B'.repeat(43)}=,${'C'.repeat(43)}=`
    const url = renderQrDataUrl(text)
    expect(url.startsWith('data:image/png;base64,')).toBe(true)
    expect(decodeQrDataUrl(url)).toBe(text)
  })

  it('draws a white quiet zone and a square image large enough to scan', () => {
    const url = renderQrDataUrl('hello')
    const png = PNG.sync.read(Buffer.from(url.split(',')[1]!, 'base64'))
    expect(png.width).toBe(png.height)
    expect(png.width).toBeGreaterThanOrEqual(150)
    // top-left pixel sits in the quiet zone: white
    expect([...png.data.subarray(0, 3)]).toEqual([255, 255, 255])
  })

  it('gives different images for different data', () => {
    expect(renderQrDataUrl('one')).not.toBe(renderQrDataUrl('two'))
  })
})
