import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { io } from 'socket.io-client'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { freePort, tempDir } from '../helpers/hub'
import { rawRequest } from '../helpers/raw-http'

const root = fileURLToPath(new URL('../..', import.meta.url))
/** What `npm run serve` runs: the compiled server, no TypeScript loader. */
const BUILT_CLI = fileURLToPath(new URL('../../out/main/cli.js', import.meta.url))
const children: ChildProcess[] = []
beforeAll(() => {
  if (!existsSync(BUILT_CLI)) {
    throw new Error(
      'out/main/cli.js is missing: run `npx electron-vite build` (npm test does) before this suite',
    )
  }
})
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL')
})

/** Starts `npm run serve`'s entry exactly as the script does. */
function serve(env: Record<string, string>) {
  const child = spawn(process.execPath, [BUILT_CLI], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.push(child)
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  )
  const output = () => ({ stdout, stderr })
  const waitFor = async (pattern: RegExp, timeoutMs = 15_000) => {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      const match = pattern.exec(stdout)
      if (match) return match
      if (child.exitCode !== null) break
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    throw new Error(`output never matched ${pattern}: ${stdout}${stderr}`)
  }
  return { child, exited, output, waitFor }
}

describe('npm run serve (headless CLI)', () => {
  it('prints a connect URL with a token, serves clients, and stops on SIGTERM', async () => {
    const port = await freePort()
    const cli = serve({ WS_PORT: String(port), WS_HOST: '127.0.0.1', DATA_DIR: await tempDir() })
    const [url] = await cli.waitFor(/http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]+/)
    const token = new URL(url).searchParams.get('token')!
    const socket = io(new URL(url).origin, {
      auth: { token },
      transports: ['websocket'],
      reconnection: false,
    })
    const qr = new Promise<{ session_id: string }>((resolve) => socket.once('qr_code', resolve))
    socket.emit('get_qr', { session_id: 'cli' })
    expect((await qr).session_id).toBe('cli')
    const dropped = new Promise((resolve) => socket.once('disconnect', resolve))
    cli.child.kill('SIGTERM')
    expect(await cli.exited).toBe(0)
    await dropped
    expect(cli.output().stdout).toContain('WA Link Hub stopped')
    // the token is printed once, in the start-up line, and never again
    expect(cli.output().stdout.split(token).length - 1).toBe(1)
  })

  it('answers the request targets that once ended the process, and stays up', async () => {
    const port = await freePort()
    const cli = serve({ WS_PORT: String(port), WS_HOST: '127.0.0.1', DATA_DIR: await tempDir() })
    const [url] = await cli.waitFor(/http:\/\/127\.0\.0\.1:\d+\//)
    // `curl --request-target '//[/'` and an absolute-form target with a port out of range: both
    // threw "Invalid URL" in the request listener, outside any try/catch.
    for (const target of ['//[/', 'http://x:99999/']) {
      const response = await rawRequest(url, `GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`)
      expect(response.status).toBeGreaterThanOrEqual(400)
      expect(response.status).toBeLessThan(500)
      expect(JSON.parse(response.body)).toMatchObject({ code: expect.any(String) })
    }
    expect((await fetch(`${url}health`)).status).toBe(200)
    expect(cli.child.exitCode).toBeNull()
    expect(cli.output().stderr).toBe('')
  })

  it('warms up on a private hub before it listens; the hub it starts has served nobody', async () => {
    const port = await freePort()
    const tmp = await tempDir() // the warm-up's own data directory goes here, and must go away
    const cli = serve({
      WS_PORT: String(port),
      WS_HOST: '127.0.0.1',
      DATA_DIR: await tempDir(),
      LOG_LEVEL: 'debug',
      TMPDIR: tmp,
    })
    const [url] = await cli.waitFor(/http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]+/)
    const { stdout } = cli.output()
    expect(stdout).toMatch(/Warmed up .*clients=10 answered=10/)
    expect(stdout.indexOf('Warmed up')).toBeLessThan(stdout.indexOf('listening'))
    const token = new URL(url).searchParams.get('token')!
    const stats = await fetch(`http://127.0.0.1:${port}/stats`, {
      headers: { Authorization: `Bearer ${token}` },
    })
    expect(await stats.json()).toMatchObject({ clients: 0, sessions: { total: 0 } })
    expect(readdirSync(tmp)).toEqual([])
  })

  it('starts without the warm-up when it fails, and says so', async () => {
    const port = await freePort()
    const cli = serve({
      WS_PORT: String(port),
      WS_HOST: '127.0.0.1',
      DATA_DIR: await tempDir(),
      TMPDIR: '/nonexistent/wa-link-hub',
    })
    await cli.waitFor(/listening/)
    expect(cli.output().stdout).toContain('The start-up warm-up failed; the hub starts without it')
    expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200)
  })

  it('stops start-up with one line naming a bad variable', async () => {
    const cli = serve({ WS_PORT: 'abc' })
    expect(await cli.exited).toBe(1)
    const { stderr } = cli.output()
    expect(stderr.trim().split('\n')).toHaveLength(1)
    expect(stderr).toContain('WS_PORT="abc" is invalid')
  })

  it('exits 1 with one line when the port is in use', async () => {
    const blocker = createServer()
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
    const { port } = blocker.address() as { port: number }
    try {
      const cli = serve({ WS_PORT: String(port), WS_HOST: '127.0.0.1', DATA_DIR: await tempDir() })
      expect(await cli.exited).toBe(1)
      const { stderr } = cli.output()
      expect(stderr.trim().split('\n')).toHaveLength(1)
      expect(stderr).toContain(`Port ${port} is already in use`)
    } finally {
      await new Promise((resolve) => blocker.close(resolve))
    }
  })
})

describe('the built server (out/main/cli.js)', () => {
  it('serves the built web UI', async () => {
    const port = await freePort()
    const cli = serve({ WS_PORT: String(port), WS_HOST: '127.0.0.1', DATA_DIR: await tempDir() })
    await cli.waitFor(/listening/)
    const page = await fetch(`http://127.0.0.1:${port}/`)
    expect(page.status).toBe(200)
    expect(await page.text()).toContain('<div id="root">')
  })

  it('imports Baileys only dynamically, so the simulated provider never loads it', () => {
    // Every module the CLI loads at start: its static imports, followed through the chunks.
    const seen = new Set<string>()
    const visit = (file: string) => {
      if (seen.has(file)) return
      seen.add(file)
      const code = readFileSync(file, 'utf8')
      expect(code, file).not.toMatch(/^import[^;]*from\s*"@whiskeysockets\/baileys"/m)
      for (const [, path] of code.matchAll(/^import[^;]*?from\s*"(\.[^"]+)"/gm))
        visit(fileURLToPath(new URL(path!, pathToFileURL(file))))
    }
    visit(BUILT_CLI)
    const loaded = [...seen].map((file) => readFileSync(file, 'utf8')).join('\n')
    expect(loaded).toMatch(/await import\("\.\/(chunks\/)?baileys-[\w-]+\.js"\)/)
    expect([...seen].some((file) => /baileys/.test(file))).toBe(false)
  })
})
