/**
 * The servers under test, each in its own process so its RSS and CPU are its own: the hub as
 * `npm run serve` runs it (`node out/main/cli.js`, the compiled build, default log level), and the
 * bare Socket.IO reference (bench/bare-socketio.js), started the same way.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath, pathToFileURL } from 'node:url'

export const BUILT_CLI = fileURLToPath(new URL('../out/main/cli.js', import.meta.url))
const BARE_SCRIPT = fileURLToPath(new URL('./bare-socketio.js', import.meta.url))
const PROBE = pathToFileURL(fileURLToPath(new URL('./probe.js', import.meta.url))).href

export type ServerKind = 'hub' | 'bare'

export interface Sample {
  rss: number
  heapUsed: number
  heapTotal: number
  external: number
  cpuMicros: number
  /** The main thread alone (Linux; NaN elsewhere): its CPU time, and its time runnable but waiting. */
  mainThread?: { cpu: number; wait: number }
  /** Event-loop delay since the last reset (p99 and max, ms): how long the loop was blocked. */
  loopDelayMs?: { p99: number; max: number }
  /** Event-loop idle and active time since the process started (ms). */
  loop?: { idle: number; active: number }
}

export interface Usage {
  peakRss: number
  /** CPU share since the reset, 100 = one core. */
  cpuPercent: number
  /** CPU time used since the reset, ms: the whole process, and its main thread alone. */
  cpuMs: number
  mainThreadCpuMs: number
  /** Share of the time the main thread was runnable but waited for a CPU (other load). */
  mainThreadWaitPercent: number
  /** Share of the time the main thread was busy since the reset (100 = saturated). */
  loopBusyPercent?: number
  loopDelayMs?: { p99: number; max: number }
}

export interface Counts {
  clients: number
  sessions: number
}

export interface ServerHandle {
  kind: ServerKind
  url: string
  token: string
  /** From spawning the process to `/health` answering 200. */
  startMs: number
  sample(gc?: boolean): Promise<Sample>
  counts(): Promise<Counts>
  /** The hub's Prometheus text (the bare server has none). */
  metrics(): Promise<string>
  /** Peak RSS (samples every 250 ms), CPU and event-loop delay since the last reset. */
  usage(): Promise<Usage>
  resetUsage(): Promise<void>
  /** Tells the bare server to emit a `qr_code` to its room (fan-out reference). */
  send(message: object): void
  stop(): Promise<void>
}

export interface StartOptions {
  env?: Record<string, string>
  /** The hub's `qr_code` payload, which the bare server answers `get_qr` with. */
  qrPayload?: object
  /** Without the probe and its IPC channel: exactly the production command (idle RSS, start). */
  plain?: boolean
  /** Extra Node options for the server process, e.g. `--cpu-prof` (see `--node-args=`). */
  nodeArgs?: string[]
  /** The access token (hubs of one fleet share theirs); random otherwise. */
  token?: string
}

export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

export async function startServer(
  kind: ServerKind,
  options: StartOptions = {},
): Promise<ServerHandle & { pid: number }> {
  if (kind === 'hub' && !existsSync(BUILT_CLI)) {
    throw new Error(`${BUILT_CLI} is missing: build first (npm run bench does)`)
  }
  const dataDir = mkdtempSync(join(tmpdir(), `wa-link-hub-bench-${kind}-`))
  const token = options.token ?? randomBytes(24).toString('base64url')
  const port = await freePort()
  // The hub logs at its default level (info), as `npm run serve` does, to a file as a service would.
  const logPath = join(dataDir, 'server.log')
  const log = openSync(logPath, 'a')
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    ...(kind === 'hub'
      ? {
          WS_PORT: String(port),
          WS_HOST: '127.0.0.1',
          DATA_DIR: dataDir,
          SECRET_KEY: token,
          LOG_LEVEL: 'info',
          SESSION_IDLE_MS: '5000',
          // The workloads hold thousands of fresh sessions on purpose; the caps are not under test.
          MAX_SESSIONS: '100000',
        }
      : { BARE_PORT: String(port), BARE_QR_PAYLOAD: JSON.stringify(options.qrPayload ?? {}) }),
    ...options.env,
  }
  const script = kind === 'hub' ? BUILT_CLI : BARE_SCRIPT
  const args = [
    ...(options.nodeArgs ?? []),
    ...(options.plain ? [] : ['--expose-gc', '--import', PROBE]),
    script,
  ]
  const began = performance.now()
  const child: ChildProcess = spawn(process.execPath, args, {
    env,
    stdio: ['ignore', log, log, ...(options.plain ? [] : ['ipc' as const])],
  })
  closeSync(log)
  const url = `http://127.0.0.1:${port}/`
  try {
    await until(async () => {
      if (child.exitCode !== null) throw new Error(`the ${kind} server exited (${child.exitCode})`)
      return (await fetch(`${url}health`).catch(() => undefined))?.ok === true
    }, 20_000)
  } catch (error) {
    child.kill('SIGKILL')
    const tail = readFileSync(logPath, 'utf8').split('\n').slice(-20).join('\n')
    rmSync(dataDir, { recursive: true, force: true })
    throw new Error(`${(error as Error).message}\n${tail}`, { cause: error })
  }
  const startMs = performance.now() - began

  const pending = new Map<number, (sample: Sample) => void>()
  let nextId = 1
  child.on('message', (message: { type: string; id: number } & Sample) => {
    if (message.type === 'sample') pending.get(message.id)?.(message)
  })
  const sample = (gc = false, resetLoopDelay = false): Promise<Sample> => {
    if (options.plain) return Promise.resolve(procSample(child.pid!))
    if (!child.connected) return Promise.reject(new Error(`the ${kind} server has exited`))
    return new Promise((resolve) => {
      const id = nextId++
      pending.set(id, (value) => {
        pending.delete(id)
        resolve(value)
      })
      child.send({ type: 'sample', id, gc, resetLoopDelay })
    })
  }

  let peakRss = 0
  let cpuStart = 0
  let mainStart = { cpu: NaN, wait: NaN }
  let loopStart: Sample['loop']
  let wallStart = performance.now()
  const timer = options.plain
    ? undefined
    : setInterval(() => {
        sample().then(
          (s) => (peakRss = Math.max(peakRss, s.rss)),
          () => clearInterval(timer), // exited: the workload that needs it will say so
        )
      }, 250)
  const resetUsage = async () => {
    const s = await sample(false, true)
    peakRss = s.rss
    cpuStart = s.cpuMicros
    mainStart = s.mainThread ?? mainStart
    loopStart = s.loop
    wallStart = performance.now()
  }
  if (!options.plain) await resetUsage()
  const auth = { headers: { Authorization: `Bearer ${token}` } }

  return {
    kind,
    url,
    token,
    startMs,
    pid: child.pid!,
    sample,
    async counts() {
      const stats = (await (await fetch(`${url}stats`, auth)).json()) as {
        clients: number
        sessions: { total: number }
      }
      return { clients: stats.clients, sessions: stats.sessions.total }
    },
    async metrics() {
      return kind === 'hub' ? (await fetch(`${url}metrics`, auth)).text() : ''
    },
    async usage() {
      const s = await sample()
      const cpuMs = (s.cpuMicros - cpuStart) / 1000
      const wallMs = performance.now() - wallStart
      const main = s.mainThread ?? { cpu: NaN, wait: NaN }
      const active = s.loop && loopStart ? s.loop.active - loopStart.active : NaN
      const idle = s.loop && loopStart ? s.loop.idle - loopStart.idle : NaN
      return {
        loopBusyPercent: Math.round((active / (active + idle)) * 100),
        peakRss: Math.max(peakRss, s.rss),
        cpuPercent: Math.round((cpuMs / wallMs) * 100),
        cpuMs,
        mainThreadCpuMs: (main.cpu - mainStart.cpu) / 1000,
        mainThreadWaitPercent: Math.round(((main.wait - mainStart.wait) / 1000 / wallMs) * 100),
        loopDelayMs: s.loopDelayMs,
      }
    },
    resetUsage,
    send: (message) => child.send(message),
    async stop() {
      clearInterval(timer)
      await stopChild(child)
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

/** SIGTERM (the hub's graceful stop), then SIGKILL if it has not exited within 5 s. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  await Promise.race([exited, sleep(5000)])
  child.kill('SIGKILL')
}

/** RSS of a process the benchmark cannot ask (started without the probe): from the OS. */
function procSample(pid: number): Sample {
  let rss: number
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    rss = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]) * 1024
  } catch {
    const ps = spawnSync('ps', ['-o', 'rss=', '-p', String(pid)], { encoding: 'utf8' })
    rss = Number(ps.stdout.trim()) * 1024
  }
  return { rss, heapUsed: NaN, heapTotal: NaN, external: NaN, cpuMicros: NaN }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`not ready within ${timeoutMs} ms`)
    await sleep(10)
  }
}
