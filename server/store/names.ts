/**
 * File names for the file store: lower-case base32 (RFC 4648 alphabet, no padding) of the UTF-8
 * key. Any key becomes a safe, reversible name on every file system: no `/`, `:` or `\`, no
 * names that differ only by case (`Shop` and `shop` are two accounts), and never a name Windows
 * reserves (`CON`, `NUL`, `COM1`...: base32 names never have 3 characters and never contain `1`,
 * `0`, `8` or `9`). Names also do not show account ids or phone numbers in plain text.
 */
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567'
const LOOKUP = new Map([...ALPHABET].map((char, index) => [char, index]))

export function encodeName(key: string): string {
  const bytes = Buffer.from(key, 'utf8')
  let out = ''
  let bits = 0
  let value = 0
  for (const byte of bytes) {
    value = (value << 8) | byte
    bits += 8
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31]
      bits -= 5
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31]
  return out
}

/** The key a name encodes, or undefined for names this store did not make. */
export function decodeName(name: string): string | undefined {
  if (name.length === 0 || [1, 3, 6].includes(name.length % 8)) return undefined
  const bytes: number[] = []
  let bits = 0
  let value = 0
  for (const char of name) {
    const index = LOOKUP.get(char)
    if (index === undefined) return undefined
    value = ((value << 5) | index) & 0xfff
    bits += 5
    if (bits >= 8) {
      bytes.push((value >>> (bits - 8)) & 0xff)
      bits -= 8
    }
  }
  // The leftover bits must be the zero padding encodeName writes, or the name is not canonical.
  if ((value & ((1 << bits) - 1)) !== 0) return undefined
  const key = Buffer.from(bytes).toString('utf8')
  return encodeName(key) === name ? key : undefined
}
