import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../server/config'

const KEY = Buffer.alloc(32, 7)
const OLD = Buffer.alloc(32, 0xfb)

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig({})
    expect(config).toMatchObject({
      port: 5001,
      host: '0.0.0.0',
      debug: false,
      secretKey: undefined,
      provider: 'simulated',
      qrTtlFirstMs: 60_000,
      qrTtlMs: 20_000,
      qrMax: 6,
      sessionIdleMs: 300_000,
      logLevel: 'info',
      rateLimitPerS: 20,
      rateLimitBurst: 40,
      maxSessions: 500,
      maxPendingPerClient: 5,
      dataKey: undefined,
      dataKeyPrevious: [],
    })
    expect(config.dataDir).toMatch(/[/\\]data$/)
  })

  it('reads every variable', () => {
    const config = loadConfig({
      WS_PORT: '6000',
      WS_HOST: '127.0.0.1',
      DEBUG: 'true',
      SECRET_KEY: 'a-long-enough-secret',
      WA_PROVIDER: 'baileys',
      QR_TTL_FIRST_MS: '1000',
      QR_TTL_MS: '500',
      QR_MAX: '3',
      SESSION_IDLE_MS: '2000',
      RATE_LIMIT_PER_S: '5',
      RATE_LIMIT_BURST: '10',
      MAX_SESSIONS: '50',
      MAX_PENDING_PER_CLIENT: '2',
      DATA_KEY: KEY.toString('base64'),
      DATA_KEY_PREVIOUS: `${OLD.toString('base64url')},${KEY.toString('base64')}`,
    })
    expect(config).toMatchObject({
      port: 6000,
      host: '127.0.0.1',
      debug: true,
      logLevel: 'debug',
      secretKey: 'a-long-enough-secret',
      provider: 'baileys',
      qrTtlFirstMs: 1000,
      qrTtlMs: 500,
      qrMax: 3,
      sessionIdleMs: 2000,
      rateLimitPerS: 5,
      rateLimitBurst: 10,
      maxSessions: 50,
      maxPendingPerClient: 2,
      dataKey: KEY,
      dataKeyPrevious: [OLD, KEY],
    })
  })

  it('applies the documented network limits', () => {
    expect(loadConfig({})).toMatchObject({
      corsOrigins: '*',
      maxClientBufferBytes: 4 * 1024 * 1024,
      maxUnauthenticated: 1000,
      connectTimeoutMs: 10_000,
      authFailuresPerMin: 20,
      authAddressesMax: 10_000,
      httpHeadersTimeoutMs: 10_000,
      httpRequestTimeoutMs: 30_000,
      httpKeepAliveTimeoutMs: 5000,
      httpIdleTimeoutMs: 60_000,
    })
  })

  it('reads CORS_ORIGINS as a comma list of origins, normalized as browsers send them', () => {
    expect(
      loadConfig({
        CORS_ORIGINS: ' https://App.Example.com/ ,http://localhost:3000,app://wa-link-hub',
      }).corsOrigins,
    ).toEqual(['https://app.example.com', 'http://localhost:3000', 'app://wa-link-hub'])
  })

  it('refuses an HTTP request timeout shorter than the headers timeout', () => {
    expect(() =>
      loadConfig({ HTTP_HEADERS_TIMEOUT_MS: '5000', HTTP_REQUEST_TIMEOUT_MS: '4000' }),
    ).toThrow(/HTTP_REQUEST_TIMEOUT_MS=4000 is invalid: must be at least HTTP_HEADERS_TIMEOUT_MS/)
  })

  it('lets LOG_LEVEL win over DEBUG', () => {
    expect(loadConfig({ DEBUG: '1', LOG_LEVEL: 'warn' }).logLevel).toBe('warn')
  })

  it.each([
    ['WS_PORT', 'abc'],
    ['WS_PORT', '70000'],
    ['WS_PORT', '-1'],
    ['DEBUG', 'maybe'],
    ['WA_PROVIDER', 'whatsapp-web'],
    ['QR_MAX', '0'],
    ['QR_TTL_MS', '1.5'],
    ['LOG_LEVEL', 'loud'],
    ['RATE_LIMIT_PER_S', 'fast'],
    ['MAX_SESSIONS', '0'],
    ['MAX_PENDING_PER_CLIENT', 'many'],
    ['CORS_ORIGINS', 'https://app.example.com/path'],
    ['CORS_ORIGINS', 'app.example.com'],
    ['CORS_ORIGINS', ','],
    ['MAX_CLIENT_BUFFER_BYTES', '1024'],
    ['MAX_UNAUTHENTICATED', '0'],
    ['CONNECT_TIMEOUT_MS', '10'],
    ['AUTH_FAILURES_PER_MIN', '0'],
    ['AUTH_ADDRESSES_MAX', 'many'],
    ['HTTP_HEADERS_TIMEOUT_MS', '0'],
    ['HTTP_IDLE_TIMEOUT_MS', '-5'],
    ['HTTP_KEEP_ALIVE_TIMEOUT_MS', '1e3'],
  ])('refuses %s=%s with a message naming the variable', (name, value) => {
    let error: unknown
    try {
      loadConfig({ [name]: value })
    } catch (caught) {
      error = caught
    }
    expect(error).toBeInstanceOf(ConfigError)
    expect((error as ConfigError).variable).toBe(name)
    expect((error as ConfigError).message).toContain(`${name}=`)
  })

  it.each([
    ['SECRET_KEY', 'short-secret'],
    ['DATA_KEY', 'c2hvcnQta2V5LXNlY3JldA=='],
    ['DATA_KEY', 'not base64 at all!'],
    ['DATA_KEY_PREVIOUS', `${KEY.toString('base64')},dG9vLXNob3J0`],
  ])('refuses a bad %s without echoing the secret', (name, value) => {
    let error: unknown
    try {
      loadConfig({ [name]: value })
    } catch (caught) {
      error = caught
    }
    expect(error).toBeInstanceOf(ConfigError)
    expect((error as ConfigError).variable).toBe(name)
    expect((error as ConfigError).message).toContain(name)
    for (const part of value.split(',')) {
      expect((error as ConfigError).message).not.toContain(part)
    }
  })
})
