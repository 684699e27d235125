import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { startTestHub, type TestHub } from '../helpers/hub'

const root = fileURLToPath(new URL('../..', import.meta.url))

describe('installSafetyNet', () => {
  it('logs an uncaught throw and an unhandled rejection with their stacks; the process goes on', async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'test/server/clients/safety-net-child.ts'],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
    expect(code, stderr).toBe(0)
    expect(stdout).toContain('still serving after uncaughtException, unhandledRejection')
    expect(stderr).toMatch(
      /ERROR Unexpected failure; the hub keeps running origin=uncaughtException error="a bug in a timer" stack=.*safety-net-child\.ts/,
    )
    expect(stderr).toMatch(/origin=unhandledRejection error="a promise nobody awaited" stack=/)
  })
})

describe('faults inside the hub', () => {
  let t: TestHub
  beforeEach(async () => {
    t = await startTestHub()
  })
  afterEach(async () => {
    await t.close(true)
  })

  it("survives a host's listener that throws on every client change, and counts it", async () => {
    // The desktop's tray listens to `clients`; a bug there must not take connections down.
    t.hub.events.on('clients', () => {
      throw new Error('a tray bug')
    })
    const errors: string[] = []
    t.hub.events.on('log', (entry) => {
      if (entry.level === 'error') errors.push(`${entry.message} ${String(entry.fields?.error)}`)
    })
    const socket = await t.connect()
    expect(await socket.emitWithAck('list_sessions', {})).toMatchObject({ ok: true })
    const other = await t.connect()
    expect(other.connected).toBe(true)
    expect(errors[0]).toMatch(
      /^Unexpected error greeting a client; the hub keeps running a tray bug/,
    )
    const metrics = await (await t.fetch('/metrics')).text()
    expect(metrics).toMatch(/^wa_link_hub_faults_total\{origin="socket"\} 2$/m)
  })

  it('counts faults the host reports for the process in /metrics', async () => {
    t.hub.recordFault('uncaughtException')
    t.hub.recordFault('unhandledRejection')
    t.hub.recordFault('unhandledRejection')
    const metrics = await (await t.fetch('/metrics')).text()
    expect(metrics).toMatch(/^wa_link_hub_faults_total\{origin="uncaughtException"\} 1$/m)
    expect(metrics).toMatch(/^wa_link_hub_faults_total\{origin="unhandledRejection"\} 2$/m)
  })
})
