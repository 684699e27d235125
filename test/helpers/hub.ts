import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PNG } from 'pngjs'
import jsQR from 'jsqr'
import { io, type Socket, type SocketOptions, type ManagerOptions } from 'socket.io-client'
import { loadConfig, type Config } from '../../server/config'
import { createHub, type ConnectionInfo, type Hub, type HubOptions } from '../../server/hub'
import { silentLogger } from '../../server/logger'

export const TEST_TOKEN = 'test-token-0123456789abcdef'

export interface TestHub {
  hub: Hub
  config: Config
  info: ConnectionInfo
  dataDir: string
  /**
   * A connected client (resolves after `connect`); closed by `close()`. Default transports, as a
   * client gets them: polling first, then the upgrade to websocket.
   */
  connect(options?: {
    token?: string | null
    query?: boolean
    transports?: Transport[]
  }): Promise<Socket>
  /** `fetch` with the token as a bearer header; a body is sent as JSON unless it says otherwise. */
  fetch(path: string, init?: RequestInit & { token?: string | null }): Promise<Response>
  /** Stops the hub, disconnects clients; keeps dataDir unless `removeData`. */
  close(removeData?: boolean): Promise<void>
}

export type Transport = 'polling' | 'websocket'
export const TRANSPORTS: Transport[] = ['polling', 'websocket']

export async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'wa-link-hub-test-'))
}

export async function startTestHub(
  env: Record<string, string> = {},
  options: Partial<HubOptions> & { dataDir?: string } = {},
): Promise<TestHub> {
  const dataDir = options.dataDir ?? (await tempDir())
  const config = loadConfig({
    WS_PORT: '0',
    WS_HOST: '127.0.0.1',
    SECRET_KEY: TEST_TOKEN,
    DATA_DIR: dataDir,
    ...env,
  })
  const hub = createHub(config, { logger: silentLogger, ...options })
  const info = await hub.start()
  const sockets: Socket[] = []

  return {
    hub,
    config,
    info,
    dataDir,
    async connect({ token = info.token, query = false, transports } = {}) {
      const options: Partial<ManagerOptions & SocketOptions> = {
        reconnection: false,
        forceNew: true,
        ...(transports ? { transports } : {}),
        ...(token === null ? {} : query ? { query: { token } } : { auth: { token } }),
      }
      const socket = io(info.url, options)
      sockets.push(socket)
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', () => resolve())
        socket.once('connect_error', reject)
      })
      return socket
    },
    fetch(path, init = {}) {
      const { token = info.token, ...rest } = init
      const headers = new Headers(rest.headers)
      if (token !== null) headers.set('Authorization', `Bearer ${token}`)
      if (rest.body !== undefined && !headers.has('Content-Type')) {
        headers.set('Content-Type', 'application/json')
      }
      return fetch(new URL(path, info.url), { ...rest, headers })
    },
    async close(removeData = false) {
      for (const socket of sockets) socket.close()
      await hub.stop()
      if (removeData) await rm(dataDir, { recursive: true, force: true })
    },
  }
}

/** Resolves with the next `event` on `socket` (optionally the next one matching `where`). */
export function nextEvent<T = Record<string, unknown>>(
  socket: Socket,
  event: string,
  where: (payload: T) => boolean = () => true,
  timeoutMs = 5000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event, listener)
      reject(new Error(`no "${event}" within ${timeoutMs} ms`))
    }, timeoutMs)
    const listener = (payload: T) => {
      if (!where(payload)) return
      clearTimeout(timer)
      socket.off(event, listener)
      resolve(payload)
    }
    socket.on(event, listener)
  })
}

/** Collects every `event` on `socket` into an array, as it arrives. */
export function collect<T = Record<string, unknown>>(socket: Socket, event: string): T[] {
  const seen: T[] = []
  socket.on(event, (payload: T) => seen.push(payload))
  return seen
}

/** Decodes a `data:image/png;base64,...` QR image back to its text. */
export function decodeQrDataUrl(dataUrl: string): string | undefined {
  const match = /^data:image\/png;base64,(.+)$/.exec(dataUrl)
  if (!match?.[1]) throw new Error('not a PNG data URL')
  const png = PNG.sync.read(Buffer.from(match[1], 'base64'))
  return jsQR(new Uint8ClampedArray(png.data), png.width, png.height)?.data
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** A port that was free a moment ago (for tests that must restart on the same port). */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}
