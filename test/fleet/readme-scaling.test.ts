import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import type { StatsBody } from '../../server/protocol'
import { eventually } from '../helpers/fleet'
import { freePort, tempDir } from '../helpers/hub'

const root = fileURLToPath(new URL('../..', import.meta.url))
let cleanup: (() => void) | undefined
afterEach(() => {
  cleanup?.()
  cleanup = undefined
})

/** The shell block under a README heading. */
function commandsUnder(heading: string): string {
  const readme = readFileSync(`${root}/README.md`, 'utf8')
  const section = readme.slice(readme.indexOf(`## ${heading}`))
  const block = /```sh\n([\s\S]*?)```/.exec(section)
  if (!block?.[1]) throw new Error(`no sh block under ${heading}`)
  return block[1]
}

describe("README's Scaling out", () => {
  it('its three commands start Redis and three hubs that form one fleet', async () => {
    const commands = commandsUnder('Scaling out')
    expect(commands.trim().split('\n')).toHaveLength(3)
    // The same commands on free ports and a private folder, so the test can run anywhere.
    const [redisPort, ...hubPorts] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
      freePort(),
    ])
    const dir = await tempDir()
    // `npm test` has built out/ already; building again here would rewrite files other suites
    // are running from at the same moment.
    expect(commands).toContain('npx electron-vite build && ')
    const script = commands
      .replace('npx electron-vite build && ', '')
      .replaceAll('6379', String(redisPort))
      .replace('5001 5002 5003', hubPorts.join(' '))
      .replace('--dir /tmp', `--dir ${dir}`)
    expect(script).not.toBe(commands)
    // Its own process group: the hubs it starts in the background go with it.
    const shell = spawn('bash', ['-e', '-c', script], {
      cwd: root,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' },
    })
    let stdout = ''
    let stderr = ''
    shell.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    shell.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    cleanup = () => {
      try {
        process.kill(-shell.pid!, 'SIGKILL')
      } catch {
        // already gone
      }
      spawn('redis-cli', ['-p', String(redisPort), 'shutdown', 'nosave'], { stdio: 'ignore' })
    }
    for (const port of hubPorts) {
      await eventually(async () => {
        const health = await (await fetch(`http://127.0.0.1:${port}/health`)).json()
        expect(health).toMatchObject({ status: 'ok', redis: 'ok' })
      }, 60_000).catch((error: unknown) => {
        throw new Error(`${(error as Error).message}\n${stdout}${stderr}`)
      })
    }
    // The token the script made (SECRET_KEY), as the hubs print it in their connect URLs.
    const token = /\?token=([0-9a-f]{48})/.exec(stdout)?.[1]
    expect(token).toBeDefined()
    await eventually(async () => {
      const stats = (await (
        await fetch(`http://127.0.0.1:${hubPorts[1]}/stats`, {
          headers: { Authorization: `Bearer ${token}` },
        })
      ).json()) as StatsBody
      expect(stats.fleet?.instances.map((i) => i.instance).sort()).toEqual(
        hubPorts.map((port) => `hub-${port}`).sort(),
      )
    })
  }, 120_000)
})
