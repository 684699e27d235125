import { readdir, rm } from 'node:fs/promises'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { loadConfig } from '../../server/config'
import { warmUp } from '../../server/warm-up'
import { startTestHub, tempDir, type TestHub } from '../helpers/hub'

const cleanup: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step()
})

/** A private temporary directory for the warm-up's own, so a test can see it is removed. */
async function privateTmp(): Promise<string> {
  const dir = await tempDir()
  const before = process.env.TMPDIR
  process.env.TMPDIR = dir
  cleanup.push(async () => {
    if (before === undefined) delete process.env.TMPDIR
    else process.env.TMPDIR = before
    await rm(dir, { recursive: true, force: true })
  })
  return dir
}

describe('the start-up warm-up', () => {
  it('runs every client through connect and get_qr on a private hub, and leaves nothing behind', async () => {
    const dataDir = await tempDir()
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }))
    const tmp = await privateTmp()
    const config = loadConfig({ WS_PORT: '0', WS_HOST: '127.0.0.1', DATA_DIR: dataDir })

    const result = await warmUp(config, 12)

    expect(result).toMatchObject({ clients: 12, answered: 12 })
    expect(await readdir(tmp)).toEqual([]) // its data directory is gone
    expect(await readdir(dataDir)).toEqual([]) // the real hub's is untouched
  })

  it("formats its private hub's log lines at the configured level and writes them nowhere else", async () => {
    await privateTmp()
    const lines: string[] = []
    const stdout = vi.spyOn(process.stdout, 'write')
    const stderr = vi.spyOn(process.stderr, 'write')
    cleanup.push(async () => {
      stdout.mockRestore()
      stderr.mockRestore()
    })
    const info = loadConfig({ WS_PORT: '0', WS_HOST: '127.0.0.1', LOG_LEVEL: 'info' })

    await warmUp(info, 3, { logLine: (line) => lines.push(line) })

    // the same lines a real client causes, one per client and event
    expect(lines.filter((line) => / INFO {2}Client connected/.test(line))).toHaveLength(3)
    expect(lines.filter((line) => / INFO {2}Client disconnected/.test(line))).toHaveLength(3)
    expect(stdout).not.toHaveBeenCalled()
    expect(stderr).not.toHaveBeenCalled()

    lines.length = 0
    await warmUp(loadConfig({ WS_PORT: '0', LOG_LEVEL: 'warn' }), 3, {
      logLine: (line) => lines.push(line),
    })
    expect(lines.filter((line) => / INFO /.test(line))).toEqual([])
  })

  it('does not wait out the clients a limit refuses', async () => {
    await privateTmp()
    const config = loadConfig({ WS_PORT: '0', WS_HOST: '127.0.0.1', MAX_SESSIONS: '3' })

    // Clients would give up on their QR only after a minute: the test would time out first.
    const result = await warmUp(config, 10, { clientTimeoutMs: 60_000 })

    expect(result).toMatchObject({ clients: 10, answered: 3 })
  })

  it('touches nothing of a hub already serving in the same process', async () => {
    const hub: TestHub = await startTestHub()
    cleanup.push(() => hub.close(true))
    await privateTmp()

    await warmUp(hub.config, 5)

    const stats = (await (await hub.fetch('/stats')).json()) as {
      clients: number
      sessions: { total: number }
    }
    expect(stats).toMatchObject({ clients: 0, sessions: { total: 0 } })
    const metrics = await (await hub.fetch('/metrics')).text()
    expect(metrics).toMatch(/^wa_link_hub_qr_renders_total 0$/m)
  })
})
