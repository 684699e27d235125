/**
 * QR mask selection, as `qrcode` does it, fast: the eight masks are scored by qrcode's penalty
 * rules (N1 runs, N2 2x2 blocks, N3 finder-like patterns, N4 balance; the first lowest wins), on
 * rows and columns packed 32 modules to a word, so each rule is a few bitwise operations per word
 * instead of a method call per module. test/server/qr.test.ts checks that the chosen mask and the
 * resulting symbol equal qrcode's own, for every QR version.
 */

/** A symbol's modules, one byte per module (1 = dark), row by row. */
export interface MaskedSymbol {
  mask: number
  modules: Uint8Array
}

const PATTERNS: ((i: number, j: number) => boolean)[] = [
  (i, j) => (i + j) % 2 === 0,
  (i) => i % 2 === 0,
  (_i, j) => j % 3 === 0,
  (i, j) => (i + j) % 3 === 0,
  (i, j) => (Math.floor(i / 2) + Math.floor(j / 3)) % 2 === 0,
  (i, j) => ((i * j) % 2) + ((i * j) % 3) === 0,
  (i, j) => (((i * j) % 2) + ((i * j) % 3)) % 2 === 0,
  (i, j) => (((i * j) % 3) + ((i + j) % 2)) % 2 === 0,
]

/** The eight masks for one symbol size, over its non-reserved modules: bytes and packed. */
interface Masks {
  bytes: Uint8Array[]
  rows: Int32Array[]
  cols: Int32Array[]
}

/** Per symbol size (one size per QR version, so 40 entries at most). */
const maskCache = new Map<number, Masks>()

function masksFor(size: number, reserved: Uint8Array): Masks {
  const cached = maskCache.get(size)
  if (cached) return cached
  const bytes = PATTERNS.map((applies) => {
    const mask = new Uint8Array(size * size)
    for (let row = 0; row < size; row++)
      for (let col = 0; col < size; col++) {
        const i = row * size + col
        mask[i] = !reserved[i] && applies(row, col) ? 1 : 0
      }
    return mask
  })
  const masks = {
    bytes,
    rows: bytes.map((mask) => pack(mask, size).rows),
    cols: bytes.map((mask) => pack(mask, size).cols),
  }
  maskCache.set(size, masks)
  return masks
}

const wordsPerLine = (size: number) => (size + 31) >> 5

/** Rows and columns as bit lines: module j of line k is bit (j & 31) of word k * words + (j >> 5). */
function pack(modules: Uint8Array, size: number): { rows: Int32Array; cols: Int32Array } {
  const words = wordsPerLine(size)
  const rows = new Int32Array(size * words)
  const cols = new Int32Array(size * words)
  for (let row = 0; row < size; row++)
    for (let col = 0; col < size; col++) {
      const dark = modules[row * size + col]! // 0 or 1: no branch on a random colour
      rows[row * words + (col >> 5)]! |= dark << (col & 31)
      cols[col * words + (row >> 5)]! |= dark << (row & 31)
    }
  return { rows, cols }
}

/** Level L's 15-bit format information for `mask`: BCH(15,5), then XOR 0x5412. */
function formatBits(mask: number): number {
  const value = (0b01 << 3) | mask // level L's two bits, then the mask
  let remainder = value << 10
  for (let bit = 14; bit >= 10; bit--) if ((remainder >> bit) & 1) remainder ^= 0x537 << (bit - 10)
  return ((value << 10) | remainder) ^ 0x5412
}

/** Where format bit i goes, twice: [row, col] down column 8 and across row 8 (qrcode's layout). */
function formatPlaces(size: number, i: number): [number, number][] {
  const down = i < 6 ? i : i < 8 ? i + 1 : size - 15 + i
  const across = i < 8 ? size - i - 1 : i < 9 ? 15 - i : 14 - i
  return [
    [down, 8],
    [8, across],
  ]
}

/**
 * Takes `qrcode`'s symbol built with mask 0 (its `modules.data` and `reservedBit`), and returns the
 * symbol with the mask qrcode's penalty rules choose, format information included.
 */
export function applyBestMask(
  maskedWithZero: Uint8Array,
  reserved: Uint8Array,
  size: number,
): MaskedSymbol {
  const masks = masksFor(size, reserved)
  const plain = maskedWithZero.slice()
  const zero = masks.bytes[0]!
  for (let i = 0; i < plain.length; i++) plain[i]! ^= zero[i]!

  const { rows: plainRows, cols: plainCols } = pack(plain, size)
  const words = wordsPerLine(size)
  const rows = new Int32Array(plainRows.length)
  const cols = new Int32Array(plainCols.length)
  let best = 0
  let lowest = Infinity
  for (let mask = 0; mask < PATTERNS.length; mask++) {
    const maskRows = masks.rows[mask]!
    const maskCols = masks.cols[mask]!
    for (let w = 0; w < rows.length; w++) {
      rows[w] = plainRows[w]! ^ maskRows[w]!
      cols[w] = plainCols[w]! ^ maskCols[w]!
    }
    const bits = formatBits(mask)
    for (let i = 0; i < 15; i++) {
      const dark = (bits >> i) & 1
      for (const [row, col] of formatPlaces(size, i)) {
        const inRow = row * words + (col >> 5)
        const inCol = col * words + (row >> 5)
        rows[inRow] = (rows[inRow]! & ~(1 << (col & 31))) | (dark << (col & 31))
        cols[inCol] = (cols[inCol]! & ~(1 << (row & 31))) | (dark << (row & 31))
      }
    }
    const score = penalty(rows, cols, size)
    if (score < lowest) {
      lowest = score
      best = mask
    }
  }

  const modules = plain
  const chosen = masks.bytes[best]!
  for (let i = 0; i < modules.length; i++) modules[i]! ^= chosen[i]!
  const bits = formatBits(best)
  for (let i = 0; i < 15; i++)
    for (const [row, col] of formatPlaces(size, i)) modules[row * size + col] = (bits >> i) & 1
  return { mask: best, modules }
}

function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333)
  x = (x + (x >>> 4)) & 0x0f0f0f0f
  return Math.imul(x, 0x01010101) >>> 24
}

/** The low `n` bits set (0 <= n, all 32 when n >= 32): the positions of a word still inside a line. */
const lowBits = (n: number) => (n >= 32 ? -1 : n <= 0 ? 0 : (1 << n) - 1)

/**
 * qrcode's penalty for one candidate. With S_k = the line shifted by k (bit j = module j + k):
 * - N1: a run of n >= 5 equal modules scores n - 2. Where four neighbour pairs in a row are equal
 *   (E4), a run of n has n - 4 such positions and one start: popcount(E4) + 2 x starts.
 * - N3: 1011101 0000 or 0000 1011101 over modules j..j+10, as 11 ANDed shifted lines; 40 each.
 * - N2: 2x2 blocks of one colour in rows r, r + 1; 3 each. N4: dark share off 50 %, 10 per 5 %.
 */
function penalty(rows: Int32Array, cols: Int32Array, size: number): number {
  const words = wordsPerLine(size)
  let runs = 0
  let finders = 0
  for (const lines of [rows, cols]) {
    for (let base = 0; base < lines.length; base += words) {
      let carry = 0 // E4's last bit of the previous word
      for (let w = 0; w < words; w++) {
        const s0 = lines[base + w]!
        const next = w + 1 < words ? lines[base + w + 1]! : 0
        const s1 = (s0 >>> 1) | (next << 31)
        const s2 = (s0 >>> 2) | (next << 30)
        const s3 = (s0 >>> 3) | (next << 29)
        const s4 = (s0 >>> 4) | (next << 28)
        const first = w << 5
        const e4 = ~(s0 ^ s1) & ~(s1 ^ s2) & ~(s2 ^ s3) & ~(s3 ^ s4) & lowBits(size - 4 - first)
        runs += popcount(e4) + 2 * popcount(e4 & ~((e4 << 1) | carry))
        carry = e4 >>> 31
        const s5 = (s0 >>> 5) | (next << 27)
        const s6 = (s0 >>> 6) | (next << 26)
        const s7 = (s0 >>> 7) | (next << 25)
        const s8 = (s0 >>> 8) | (next << 24)
        const s9 = (s0 >>> 9) | (next << 23)
        const s10 = (s0 >>> 10) | (next << 22)
        const core = s4 & ~s5 & s6 // modules j+4..j+6 read 1 0 1 in both patterns
        const before = s0 & ~s1 & s2 & s3 & core & ~s7 & ~s8 & ~s9 & ~s10
        const after = ~s0 & ~s1 & ~s2 & ~s3 & core & s7 & s8 & ~s9 & s10
        finders += popcount((before | after) & lowBits(size - 10 - first))
      }
    }
  }
  let blocks = 0
  let dark = 0
  for (let base = 0; base < rows.length; base += words) {
    for (let w = 0; w < words; w++) {
      const top = rows[base + w]!
      dark += popcount(top)
      if (base + words >= rows.length) continue
      const bottom = rows[base + words + w]!
      const last = w + 1 < words
      const top1 = (top >>> 1) | (last ? rows[base + w + 1]! << 31 : 0)
      const bottom1 = (bottom >>> 1) | (last ? rows[base + words + w + 1]! << 31 : 0)
      const same = ~(top ^ top1) & ~(bottom ^ bottom1) & ~(top ^ bottom)
      blocks += popcount(same & lowBits(size - 1 - (w << 5)))
    }
  }
  const balance = Math.abs(Math.ceil((dark * 100) / (size * size) / 5) - 10)
  return runs + blocks * 3 + finders * 40 + balance * 10
}
