import { randomBytes } from 'node:crypto'
import { PNG } from 'pngjs'
import QRCode from 'qrcode'
import { describe, expect, it } from 'vitest'
import { qrMatrix, renderQrDataUrl } from '../../server/qr'
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

describe('qrMatrix', () => {
  it("makes qrcode's own symbol, mask choice included, for every size of input", () => {
    const key = () => randomBytes(32).toString('base64')
    const texts = [
      'hello',
      [`2@${randomBytes(36).toString('base64')}`, key(), key(), key()].join(','),
      // one text for every QR version at level L in byte mode (up to 2,953 bytes)
      ...Array.from({ length: 120 }, (_, i) =>
        randomBytes(2200)
          .toString('base64')
          .slice(0, 1 + i * 24),
      ),
    ]
    const versions = new Set<number>()
    for (const text of texts) {
      const expected = QRCode.create([{ data: Buffer.from(text, 'utf8'), mode: 'byte' }], {
        errorCorrectionLevel: 'L',
      })
      versions.add(expected.version)
      const actual = qrMatrix(text)
      expect(actual.mask, text).toBe(expected.maskPattern)
      expect(Buffer.from(actual.modules).equals(Buffer.from(expected.modules.data)), text).toBe(
        true,
      )
    }
    expect(versions.size).toBe(40)
  })
})
