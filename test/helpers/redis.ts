import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { freePort, tempDir } from './hub'

const REDIS_SERVER = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((path) =>
  existsSync(path),
)

export interface TestRedis {
  url: string
  port: number
  /** Stops the server (SIGTERM) and waits for it to exit. */
  stop(): Promise<void>
  /** Starts it again on the same port (after stop). */
  start(): Promise<void>
}

/**
 * A real redis-server on a free loopback port with a temporary directory (append-only file with
 * `persist`, else nothing kept).
 * CI installs Debian's redis-server (.ci/run); without it the fleet tests fail, saying so.
 */
export async function startRedis(options: { persist?: boolean } = {}): Promise<TestRedis> {
  if (!REDIS_SERVER) {
    throw new Error('redis-server is not installed: apt-get install -y redis-server (.ci/run does)')
  }
  const port = await freePort()
  const dir = await tempDir()
  let child: ChildProcess | undefined
  const start = async () => {
    const proc = spawn(
      REDIS_SERVER,
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        // Kept across a restart, as a fleet's Redis must keep it (docs/scaling.md).
        ...(options.persist
          ? ['--appendonly', 'yes', '--appendfsync', 'always']
          : ['--appendonly', 'no']),
        '--dir',
        dir,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    child = proc
    let output = ''
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        output += chunk.toString()
        if (output.includes('Ready to accept connections')) {
          proc.stdout!.off('data', onData)
          resolve()
        }
      }
      proc.stdout!.on('data', onData)
      proc.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${output}`)))
    })
    proc.stdout!.resume()
  }
  await start()
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    start,
    async stop() {
      const proc = child
      if (!proc || proc.exitCode !== null) return
      const exited = new Promise((resolve) => proc.once('exit', resolve))
      proc.kill('SIGTERM')
      await exited
    },
  }
}
