import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestHub, TEST_TOKEN, type TestHub } from '../helpers/hub'
import { rawRequest, type RawResponse } from '../helpers/raw-http'

let t: TestHub
beforeAll(async () => {
  t = await startTestHub()
})
afterAll(async () => {
  await t.close(true)
})

const get = (target: string, headers = '') =>
  `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers}Connection: close\r\n\r\n`
const post = (target: string, headers: string, body: string) =>
  `POST ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TEST_TOKEN}\r\n` +
  `${headers}Connection: close\r\n\r\n${body}`

/** Every refusal is a 4xx with a JSON body that names a code. */
function expectJsonRefusal(response: RawResponse, status?: number): void {
  if (status !== undefined) expect(response.status).toBe(status)
  expect(response.status).toBeGreaterThanOrEqual(400)
  expect(response.status).toBeLessThan(500)
  expect(response.headers['content-type']).toMatch(/^application\/json/)
  expect(JSON.parse(response.body)).toMatchObject({ code: expect.anything() })
}

async function expectHealthy(): Promise<void> {
  const res = await fetch(new URL('/health', t.info.url))
  expect(res.status).toBe(200)
}

describe('requests that once stopped the process, or might', () => {
  it.each([
    // The report: `curl --request-target '//[/'` threw "Invalid URL" outside any try/catch.
    ['protocol-relative with a bad host', get('//[/'), 404],
    ['absolute-form with a port out of range', get('http://x:99999/'), 400],
    ['absolute-form with a bad host', get('http://[/'), 400],
    ['absolute-form with a bad scheme-relative host', get('http://:/'), 400],
    ['a bare asterisk', get('*'), 400],
    ['OPTIONS *', 'OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 400],
    ['authority-form with GET', get('example.com:443'), 400],
    ['a query without a path', get('?token=x'), 400],
    ['a percent sign that encodes nothing', get('/%zz'), 404],
    ['an encoded NUL', get('/%00'), 404],
    ['a double slash that looks like a host', get('//evil.example/health'), 404],
    [
      'a malformed session id in a route',
      post('/api/sessions/%zz/simulate-scan', 'Content-Type: application/json\r\n', '{}'),
      400,
    ],
    ['an 8 KB path', get(`/${'a'.repeat(8000)}`), 404],
    ['a 20 KB path', get(`/${'a'.repeat(20_000)}`), 431],
    ['an unknown method', 'BREW / HTTP/1.1\r\nHost: x\r\n\r\n', 400],
    ['CONNECT', 'CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n', 405],
    ['a control character in the target', get('/\x01'), 400],
    ['a space in the version', 'GET / HTTP/1 .1\r\n\r\n', 400],
    ['an unsupported Expect', get('/health', 'Expect: tea\r\n'), 417],
    ['a header without a colon', get('/health', 'NoColon\r\n'), 400],
    ['a header with a NUL', get('/health', 'X-A: a\x00b\r\n'), 400],
    [
      'two Content-Lengths',
      post('/api/sessions/a/simulate-scan', 'Content-Length: 1\r\nContent-Length: 2\r\n', 'xx'),
      400,
    ],
    [
      'a negative Content-Length',
      post('/api/sessions/a/simulate-scan', 'Content-Length: -1\r\n', ''),
      400,
    ],
    [
      'a huge Content-Length',
      post(
        '/api/sessions/a/simulate-scan',
        'Content-Type: application/json\r\nContent-Length: 99999999999\r\n',
        '{',
      ),
      413,
    ],
    [
      'a broken chunk',
      post(
        '/api/sessions/a/simulate-scan',
        'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n',
        'zz\r\n{}\r\n0\r\n\r\n',
      ),
      400,
    ],
    [
      'a body that is not JSON',
      post(
        '/api/sessions/a/simulate-scan',
        'Content-Type: application/json\r\nContent-Length: 5\r\n',
        '{"a":',
      ),
      400,
    ],
    [
      'a body that is not UTF-8',
      post(
        '/api/sessions/a/simulate-scan',
        'Content-Type: application/json\r\nContent-Length: 4\r\n',
        '\xff\xfe{}',
      ),
      400,
    ],
    ['a bearer token that is not ASCII', get('/stats', 'Authorization: Bearer \xff\xfe\r\n'), 401],
    ['an empty bearer token', get('/stats', 'Authorization: Bearer\r\n'), 401],
    ['an Origin header of "null"', get('/stats', 'Origin: null\r\n'), 401],
    ['a Host of a lone bracket', get('/nope', 'Host: [\r\n'), 404],
    [
      'an upgrade to something else',
      get('/health', 'Upgrade: h2c\r\nConnection: Upgrade\r\n'),
      404,
    ],
    [
      'a websocket upgrade outside Socket.IO',
      get('/health', 'Upgrade: websocket\r\nConnection: Upgrade\r\n'),
      404,
    ],
    [
      'a websocket handshake without a key',
      get(
        '/socket.io/?EIO=4&transport=websocket',
        'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n',
      ),
      400,
    ],
    [
      'a websocket handshake with a bad protocol list',
      get(
        '/socket.io/?EIO=4&transport=websocket',
        'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: ,,\r\n',
      ),
      400,
    ],
    [
      'a websocket upgrade for an unknown Engine.IO session',
      get(
        '/socket.io/?EIO=4&transport=websocket&sid=nope',
        'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n',
      ),
      400,
    ],
    [
      'a Socket.IO poll for an unknown session',
      get('/socket.io/?EIO=4&transport=polling&sid=%zz'),
      400,
    ],
    [
      'a Socket.IO handshake of an unknown protocol version',
      get('/socket.io/?EIO=5&transport=polling'),
      400,
    ],
    [
      'a Socket.IO handshake of an unknown transport',
      get('/socket.io/?EIO=4&transport=carrier-pigeon'),
      400,
    ],
    ['a Socket.IO path that is not one', get('/socket.io/%'), 400],
  ])('%s: a 4xx JSON answer, and the hub goes on', async (_name, request, status) => {
    expectJsonRefusal(await rawRequest(t.info.url, Buffer.from(request, 'latin1')), status)
    await expectHealthy()
  })

  it('accepts an absolute-form target as HTTP/1.1 requires', async () => {
    const response = await rawRequest(t.info.url, get(`${t.info.url}health`))
    expect(response.status).toBe(200)
    expect(JSON.parse(response.body)).toMatchObject({ status: 'ok' })
  })

  it('ignores a reversed Range on the web UI instead of failing mid-answer', async () => {
    const response = await rawRequest(t.info.url, get('/', 'Range: bytes=5-2\r\n'))
    expect(response.status).toBe(200)
    expect(response.body).toContain('WA Link Hub')
  })

  it('answers random request lines with 2xx-4xx, JSON for every refusal, and keeps serving', async () => {
    const methods = fc.constantFrom('GET', 'POST', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'PATCH')
    const pieces = fc.constantFrom(
      '/',
      '//',
      '/socket.io/',
      '/api/sessions',
      '/api/sessions/x/simulate-scan',
      '/health',
      '/stats',
      '?',
      '#',
      '%',
      '%zz',
      '%00',
      '%2F',
      '[',
      ']',
      ':',
      '@',
      '..',
      '*',
      'http://',
      'https://[::1]:99999',
      '\\',
      '\u00ff',
      '\u2603',
      'token=',
      'EIO=4&transport=polling',
      '&sid=',
    )
    const target = fc.oneof(
      fc.array(pieces, { minLength: 1, maxLength: 8 }).map((parts) => parts.join('')),
      fc.string({ unit: 'binary', maxLength: 60 }),
      fc.webUrl({ withQueryParameters: true, withFragments: true }),
    )
    const version = fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/1.1 x', '')
    await fc.assert(
      fc.asyncProperty(methods, target, version, async (method, path, httpVersion) => {
        const request = Buffer.from(
          `${method} ${path} ${httpVersion}\r\nHost: 127.0.0.1\r\nConnection: close\r\n` +
            `Content-Length: 0\r\n\r\n`,
          'utf8',
        )
        const response = await rawRequest(t.info.url, request)
        expect(response.status).toBeGreaterThanOrEqual(200)
        expect(response.status).toBeLessThan(500)
        if (response.status >= 400 && method !== 'HEAD') {
          expect(JSON.parse(response.body)).toMatchObject({ code: expect.anything() })
        }
      }),
      { numRuns: 300 },
    )
    await expectHealthy()
  })
})
