import { crc32, deflateSync } from 'node:zlib'
import QRCode from 'qrcode'

/** Pixels per QR module. With the quiet zone, WhatsApp-sized codes come out around 400 px. */
const MODULE_PX = 6
/** Quiet zone around the code, in modules, as the QR standard asks. */
const MARGIN = 4

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
 * mask its penalty rules choose, but chosen several times faster.
 *
 * `qrcode` picks the mask by applying each of the eight in turn and scoring the result through
 * per-module method calls: 80 % of a render (profiled). Here `qrcode` builds the symbol once with
 * mask 0, the mask is taken off again, and the eight candidates are scored with the same rules
 * (qrcode's own N1-N4, first lowest penalty wins) over flat arrays. test/server/qr.test.ts checks
 * the result equals `qrcode`'s own choice.
 */
export function qrMatrix(data: string): { size: number; modules: Uint8Array; mask: number } {
  // One byte-mode segment: WhatsApp's QR text (base64, `@`, `,`) is byte data anyway, and this
  // skips qrcode's segment optimizer, which was over half the cost of a render (profiled).
  const { modules: symbol } = QRCode.create([{ data: Buffer.from(data, 'utf8'), mode: 'byte' }], {
    errorCorrectionLevel: 'L',
    maskPattern: 0,
  })
  const { size } = symbol
  const masks = masksFor(size, symbol.reservedBit)
  const plain = symbol.data.slice()
  const mask0 = masks[0]!
  for (let i = 0; i < plain.length; i++) plain[i]! ^= mask0[i]!

  const scratch = new Uint8Array(plain.length)
  let best = { mask: 0, penalty: Infinity, modules: plain }
  for (let mask = 0; mask < masks.length; mask++) {
    const candidate = plain.slice()
    const pattern = masks[mask]!
    for (let i = 0; i < candidate.length; i++) candidate[i]! ^= pattern[i]!
    placeFormatBits(candidate, size, mask)
    const score = penalty(candidate, size, scratch)
    if (score < best.penalty) best = { mask, penalty: score, modules: candidate }
  }
  return { size, modules: best.modules, mask: best.mask }
}

/** Per symbol size (one size per QR version), each mask as 0/1 over the non-reserved modules. */
const maskCache = new Map<number, Uint8Array[]>()

function masksFor(size: number, reserved: Uint8Array): Uint8Array[] {
  let masks = maskCache.get(size)
  if (masks) return masks
  const at = [
    (i: number, j: number) => (i + j) % 2 === 0,
    (i: number) => i % 2 === 0,
    (_i: number, j: number) => j % 3 === 0,
    (i: number, j: number) => (i + j) % 3 === 0,
    (i: number, j: number) => (Math.floor(i / 2) + Math.floor(j / 3)) % 2 === 0,
    (i: number, j: number) => ((i * j) % 2) + ((i * j) % 3) === 0,
    (i: number, j: number) => (((i * j) % 2) + ((i * j) % 3)) % 2 === 0,
    (i: number, j: number) => (((i * j) % 3) + ((i + j) % 2)) % 2 === 0,
  ]
  masks = at.map((applies) => {
    const mask = new Uint8Array(size * size)
    for (let row = 0; row < size; row++)
      for (let col = 0; col < size; col++) {
        const i = row * size + col
        mask[i] = !reserved[i] && applies(row, col) ? 1 : 0
      }
    return mask
  })
  maskCache.set(size, masks)
  return masks
}

/** Level L's 15-bit format information for `mask` (BCH(15,5), then XOR 0x5412), placed twice. */
function placeFormatBits(modules: Uint8Array, size: number, mask: number): void {
  const value = (0b01 << 3) | mask // level L's two bits, then the mask
  let remainder = value << 10
  for (let bit = 14; bit >= 10; bit--) if ((remainder >> bit) & 1) remainder ^= 0x537 << (bit - 10)
  const bits = ((value << 10) | remainder) ^ 0x5412
  for (let i = 0; i < 15; i++) {
    const dark = (bits >> i) & 1
    const down = i < 6 ? i : i < 8 ? i + 1 : size - 15 + i
    const across = i < 8 ? size - i - 1 : i < 9 ? 15 - i : 14 - i
    modules[down * size + 8] = dark
    modules[8 * size + across] = dark
  }
}

/** What extending a run to length n adds to N1 (qrcode's 3 + (n - 5) for a run of n >= 5). */
const RUN_STEP = Uint8Array.from([0, 0, 0, 0, 0, 3, 1])
/** N2 counts a 2x2 block whose four modules add up to 0 or 4. */
const SAME_BLOCK = Uint8Array.from([1, 0, 0, 0, 1])
/** N3: the last 11 modules read 1011101 0000 or 0000 1011101. */
const FINDER_LIKE = new Uint8Array(0x800)
FINDER_LIKE[0x5d0] = FINDER_LIKE[0x05d] = 1

/**
 * qrcode's penalty (N1 runs, N2 2x2 blocks, N3 finder-like patterns, N4 balance), as it counts.
 * Rows are read from the matrix and columns from its transpose, both in order, and the counting
 * uses table look-ups and arithmetic rather than branches, which random module colours mispredict.
 */
function penalty(modules: Uint8Array, size: number, transposed: Uint8Array): number {
  for (let row = 0; row < size; row++)
    for (let col = 0; col < size; col++) transposed[col * size + row] = modules[row * size + col]!
  let runs = 0
  let finders = 0
  for (const lines of [modules, transposed]) {
    for (let start = 0; start < size * size; start += size) {
      let last = lines[start]!
      let run = 1
      let bits = last
      for (let i = start + 1; i < start + size; i++) {
        const module = lines[i]!
        run = run * (1 - (module ^ last)) + 1
        runs += RUN_STEP[run < 6 ? run : 6]!
        last = module
        bits = ((bits << 1) & 0x7ff) | module
        if (i - start >= 10) finders += FINDER_LIKE[bits]!
      }
    }
  }
  let blocks = 0
  for (let top = 0; top < size * (size - 1); top += size) {
    let left = modules[top]! + modules[top + size]!
    for (let col = 1; col < size; col++) {
      const right = modules[top + col]! + modules[top + size + col]!
      blocks += SAME_BLOCK[left + right]!
      left = right
    }
  }
  let dark = 0
  for (let i = 0; i < size * size; i++) dark += modules[i]!
  const balance = Math.abs(Math.ceil((dark * 100) / (size * size) / 5) - 10)
  return runs + blocks * 3 + finders * 40 + balance * 10
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
    chunk('IDAT', deflateSync(raw)),
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
