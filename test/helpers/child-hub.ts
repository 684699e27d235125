import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort } from './hub'

const root = fileURLToPath(new URL('../..', import.meta.url))

/**
 * A compiled entry of the main build (`out/main/<name>.js`): what `npm run serve` and
 * `npm run rotate-key` run. `npm test` builds before the suites run.
 */
export function builtEntry(name: 'cli' | 'rotate-key' | 'qr-worker'): string {
  const path = join(root, 'out', 'main', `${name}.js`)
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: run \`npx electron-vite build\` (npm test does) first`)
  }
  return path
}

export interface ChildHub {
  child: ChildProcess
  url: string
  exited: Promise<number | null>
  output(): { stdout: string; stderr: string }
  /** SIGTERM, then waits for the exit code. */
  stop(): Promise<number | null>
}

/**
 * The headless hub in a process of its own, started as `npm run serve` starts it (the compiled
 * server), for tests where a crash (kill -9) is the point. Resolves once it answers /health.
 */
export async function startChildHub(env: Record<string, string>): Promise<ChildHub> {
  const port = env.WS_PORT ?? String(await freePort())
  const child = spawn(process.execPath, [builtEntry('cli')], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      WS_HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      ...env,
      WS_PORT: port,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  )
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 20_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the hub exited at start: ${stdout}${stderr}`)
    const ok = await fetch(`${url}/health`).then(
      (res) => res.ok,
      () => false,
    )
    if (ok) break
    if (Date.now() > deadline) throw new Error(`the hub never answered /health: ${stdout}${stderr}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return {
    child,
    url,
    exited,
    output: () => ({ stdout, stderr }),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      return exited
    },
  }
}
