import { connect, type Socket } from 'node:net'

export interface RawResponse {
  /** 0 when the server closed without an answer. */
  status: number
  headers: Record<string, string>
  body: string
}

/** Opens a plain TCP connection to the hub at `url` (`http://host:port/`). */
export function openTcp(url: string): Promise<Socket> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => resolve(socket))
    socket.once('error', reject)
  })
}

/** The first HTTP response in `raw` bytes. */
export function parseResponse(raw: Buffer): RawResponse {
  const text = raw.toString('latin1')
  const match = /^HTTP\/1\.[01] (\d{3})[^\r\n]*\r\n/.exec(text)
  if (!match) return { status: 0, headers: {}, body: '' }
  const end = text.indexOf('\r\n\r\n')
  const headers: Record<string, string> = {}
  for (const line of text.slice(match[0].length, end).split('\r\n')) {
    const colon = line.indexOf(':')
    if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim()
  }
  const length = Number(headers['content-length'] ?? Number.NaN)
  const rest = raw.subarray(end + 4)
  const body =
    headers['transfer-encoding'] === 'chunked'
      ? dechunk(rest)
      : (Number.isNaN(length) ? rest : rest.subarray(0, length)).toString('utf8')
  return { status: Number(match[1]), headers, body }
}

/** The data of a chunked body, as far as it has arrived. */
function dechunk(raw: Buffer): string {
  const parts: Buffer[] = []
  let at = 0
  for (;;) {
    const lineEnd = raw.indexOf('\r\n', at)
    if (lineEnd < 0) break
    const size = parseInt(raw.subarray(at, lineEnd).toString('latin1'), 16)
    if (!(size > 0)) break
    parts.push(raw.subarray(lineEnd + 2, lineEnd + 2 + size))
    at = lineEnd + 2 + size + 2
  }
  return Buffer.concat(parts).toString('utf8')
}

/**
 * Sends `request` exactly as given (no escaping, no framing), then reads until the server closes
 * the connection or a whole response has arrived, and returns the first response.
 */
export async function rawRequest(url: string, request: string | Buffer): Promise<RawResponse> {
  const socket = await openTcp(url)
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    const done = () => {
      socket.destroy()
      resolve(parseResponse(Buffer.concat(chunks)))
    }
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk)
      const response = parseResponse(Buffer.concat(chunks))
      const length = Number(response.headers['content-length'] ?? Number.NaN)
      if (response.status !== 0 && Buffer.byteLength(response.body) >= length) done()
    })
    socket.once('close', done)
    socket.once('error', done)
    socket.write(request)
  })
}
