import { crc32, deflateSync } from 'node:zlib'
import QRCode from 'qrcode'
import { applyBestMask } from './qr-mask'

/** Pixels per QR module. With the quiet zone, WhatsApp-sized codes come out around 400 px. */
const MODULE_PX = 6
/** Quiet zone around the code, in modules, as the QR standard asks. */
const MARGIN = 4

/**
 * zlib level for the PNG's pixels. Measured on 2,000 WhatsApp-sized codes, the two alternating in
 * one process (median of 20 batches): the default level (6) 136 µs per image for 898 bytes, level 3
 * 61 µs for 994 (level 1: 58-76 µs for 1,071). A fifth of a render's time saved for 11 % more PNG,
 * 6 % more `qr_code` frame (docs/performance.md).
 */
const DEFLATE_LEVEL = 3

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])

/**
 * Renders `data` as a `data:image/png;base64,...` QR code.
 *
 * `qrcode` builds the module matrix; the PNG is written here as 1-bit greyscale, which is several
 * times smaller and faster to encode than the RGBA PNG `qrcode.toDataURL` produces: the hub renders
 * one image per issued QR and this is its hottest path (see docs/performance.md).
 */
export function renderQrDataUrl(data: string): string {
  const { size, modules } = qrMatrix(data)
  return `data:image/png;base64,${encodeMatrixPng(size, modules).toString('base64')}`
}

/**
 * The module matrix `qrcode` makes for `data` (byte mode, level L), module for module, with the
 * mask its penalty rules choose. `qrcode` picks the mask by applying each of the eight in turn and
 * scoring the result through per-module method calls: 80 % of a render (profiled). Here `qrcode`
 * builds the symbol once with mask 0 and qr-mask.ts picks the mask by the same rules, faster.
 */
export function qrMatrix(data: string): { size: number; modules: Uint8Array; mask: number } {
  // One byte-mode segment: WhatsApp's QR text (base64, `@`, `,`) is byte data anyway, and this
  // skips qrcode's segment optimizer, which was over half the cost of a render (profiled).
  const { modules: symbol } = QRCode.create([{ data: Buffer.from(data, 'utf8'), mode: 'byte' }], {
    errorCorrectionLevel: 'L',
    maskPattern: 0,
  })
  const { mask, modules } = applyBestMask(symbol.data, symbol.reservedBit, symbol.size)
  return { size: symbol.size, modules, mask }
}

/** Encodes a square module matrix (truthy = dark) as a 1-bit greyscale PNG with a quiet zone. */
export function encodeMatrixPng(size: number, dark: ArrayLike<number | boolean>): Buffer {
  const side = (size + 2 * MARGIN) * MODULE_PX
  const rowBytes = Math.ceil(side / 8)
  const stride = rowBytes + 1 // one filter byte per scanline
  // Each module row is MODULE_PX identical scanlines: the first is stored as is (filter "none"),
  // the others as filter "up" (the difference to the line above: zero bytes). The same pixels, and
  // deflate has less to search: about a quarter less encoding time (measured), same size.
  const raw = Buffer.alloc(stride * side)
  const line = Buffer.alloc(rowBytes)

  for (let y = 0; y < size + 2 * MARGIN; y++) {
    line.fill(0xff)
    const row = y - MARGIN
    if (row >= 0 && row < size) {
      for (let col = 0; col < size; col++) {
        if (!dark[row * size + col]) continue
        const start = (col + MARGIN) * MODULE_PX
        for (let x = start; x < start + MODULE_PX; x++) {
          line[x >> 3]! &= ~(0x80 >> (x & 7))
        }
      }
    }
    const offset = y * MODULE_PX * stride
    line.copy(raw, offset + 1) // filter byte 0: none
    for (let repeat = 1; repeat < MODULE_PX; repeat++) raw[offset + repeat * stride] = 2 // up
  }

  const header = Buffer.alloc(13)
  header.writeUInt32BE(side, 0)
  header.writeUInt32BE(side, 4)
  header[8] = 1 // bit depth
  header[9] = 0 // colour type: greyscale
  header[10] = 0 // compression
  header[11] = 0 // filter
  header[12] = 0 // no interlace
  return Buffer.concat([
    PNG_SIGNATURE,
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw, { level: DEFLATE_LEVEL })),
    chunk('IEND', Buffer.alloc(0)),
  ])
}

function chunk(type: string, body: Buffer): Buffer {
  const out = Buffer.alloc(12 + body.length)
  out.writeUInt32BE(body.length, 0)
  out.write(type, 4, 'ascii')
  body.copy(out, 8)
  out.writeUInt32BE(crc32(out.subarray(4, 8 + body.length)), 8 + body.length)
  return out
}
