import { spawn } from 'node:child_process'
import { connect } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { LogEntry } from '../../server/logger'
import type { Simulator } from '../../server/providers/provider'
import { createSimulatedProvider } from '../../server/providers/simulated'
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

describe('a fault while answering a request', () => {
  it('answers 500 internal, logs the path without its query (the token can be there), and keeps serving', async () => {
    const t = await startTestHub(
      {},
      {
        providerFactory: (context) => {
          const real = createSimulatedProvider(context)
          const simulator: Simulator = {
            ...real.simulator!,
            scan: () => Promise.reject(new Error('a provider bug')),
          }
          return { ...real, simulator }
        },
      },
    )
    try {
      const errors: LogEntry[] = []
      t.hub.events.on('log', (entry) => void (entry.level === 'error' && errors.push(entry)))
      const socket = await t.connect()
      await socket.emitWithAck('get_qr', { session_id: 'faulty' })
      const res = await fetch(
        new URL(`/api/sessions/faulty/simulate-scan?token=${t.info.token}`, t.info.url),
        {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ qr_data: 'any' }),
        },
      )
      expect(res.status).toBe(500)
      expect(await res.json()).toMatchObject({ code: 'internal' })
      expect(errors).toHaveLength(1)
      expect(errors[0]).toMatchObject({
        message: 'Unexpected error answering a request; the hub keeps running',
        fields: { path: '/api/sessions/faulty/simulate-scan', error: 'a provider bug' },
      })
      expect(JSON.stringify(errors)).not.toContain(t.info.token)
      expect((await t.fetch('/health')).status).toBe(200)
    } finally {
      await t.close(true)
    }
  })

  it('takes a client that goes away mid-body as its doing: no fault logged, the hub serves on', async () => {
    const t = await startTestHub()
    try {
      const errors: LogEntry[] = []
      t.hub.events.on('log', (entry) => void (entry.level === 'error' && errors.push(entry)))
      const { port } = new URL(t.info.url)
      const raw = connect(Number(port), '127.0.0.1')
      await new Promise((resolve) => raw.once('connect', resolve))
      raw.write(
        `POST /api/sessions/cut/simulate-scan HTTP/1.1\r\nHost: x\r\n` +
          `Authorization: Bearer ${t.info.token}\r\nContent-Type: application/json\r\n` +
          `Content-Length: 100\r\n\r\n{"qr_da`,
      )
      await sleep(100)
      raw.destroy()
      // The hub has seen the cut once it counts it; then nothing may have been logged as a fault.
      await vi.waitFor(async () => {
        const metrics = await (await t.fetch('/metrics')).text()
        expect(metrics).toMatch(/^wa_link_hub_http_client_errors_total\{code="body_cut_off"\} 1$/m)
        expect(metrics).not.toMatch(/^wa_link_hub_faults_total\{origin="http"\} [1-9]/m)
      })
      expect(errors).toEqual([])
      expect((await t.fetch('/health')).status).toBe(200)
    } finally {
      await t.close(true)
    }
  })
})
