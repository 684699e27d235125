import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { beforeAll, describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../..', import.meta.url))
const BUILT_CLI = fileURLToPath(new URL('../../out/main/cli.js', import.meta.url))

beforeAll(() => {
  if (!existsSync(BUILT_CLI)) {
    throw new Error(
      'out/main/cli.js is missing: run `npx electron-vite build` (npm test does) before this suite',
    )
  }
})

/**
 * Runs `npm run bench --smoke`: every workload, tiny, against the built hub and the bare Socket.IO
 * reference. Checks that the benchmark still works and reports what it promises: exact counts, the
 * connect step, measured rates. It asserts no timings: speed is the benchmark's business.
 */
describe('npm run bench (smoke)', () => {
  it('runs every workload on the hub and the bare server, and reports each as a row', async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'bench/run.ts', '--smoke', '--timeline=250'],
      {
        cwd: root,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
    expect(code, output).toBe(0)

    const rows = output
      .split('\n')
      .filter((line) => line.startsWith('BENCH '))
      .map((line) => JSON.parse(line.slice('BENCH '.length)))
    expect(rows.map((row) => `${row.workload} ${row.server} ${row.generator}`)).toEqual([
      'start hub -',
      'start bare -',
      'ramp-2k hub socket.io-client',
      'ramp-2k bare socket.io-client',
      'hold-5k hub socket.io-client',
      'hold-5k bare socket.io-client',
      'gen-check hub socket.io-client',
      'gen-check hub lean',
      'max-rate 100 hub lean',
      'max-rate 100 bare lean',
      'max-rate 150 hub lean',
      'max-rate 150 bare lean',
      'max-rate 100 warm hub lean',
      'max-rate 100 warm bare lean',
      'max-rate 100 hub socket.io-client',
      'max-rate 100 bare socket.io-client',
      'hold-10k hub socket.io-client',
      'hold-10k bare socket.io-client',
      'fan-out hub lean',
      'fan-out bare lean',
      'fleet 1 hub hub lean',
      'fleet 3 hubs hub lean',
    ])
    const summary = {
      p50: expect.any(Number),
      p90: expect.any(Number),
      p99: expect.any(Number),
      max: expect.any(Number),
    }
    for (const row of rows) {
      const name = `${row.workload} ${row.server}`
      expect(row, name).toMatchObject({
        clients: expect.any(Number),
        answered: row.clients,
        failures: 0,
        met: expect.any(Boolean),
        kind: row.server === 'bare' ? 'reference' : expect.any(String),
      })
      // how fast the machine was, beside every row
      expect(row.host_check_ms.cpu, name).toBeGreaterThan(0)
      expect(row.host_check_ms.memory, name).toBeGreaterThan(0)
      if (row.workload === 'start') {
        expect(row, name).toMatchObject({
          start_ms: expect.any(Number),
          rss_mb: expect.any(Number),
        })
        continue
      }
      // Every connection is timed, connect step included; the generator reports its own load.
      expect(row, name).toMatchObject({
        connect_ms: summary,
        rss_mb: expect.any(Number),
        loop_delay_ms: { p99: expect.any(Number), max: expect.any(Number) },
      })
      if (row.workload === 'fan-out') continue
      expect(row, name).toMatchObject({
        qr_ms: summary,
        offered_per_s: expect.any(Number),
        answered_per_s: expect.any(Number),
        cpu_ms_per_client: expect.any(Number),
        gen_cpu_percent: expect.any(Number),
        gen_lag_ms: summary,
      })
    }
    // Whether the hub's render thread took any QR (it starts only on a saturated event loop).
    const connectRows = rows.filter(
      (row) => row.server === 'hub' && /^(ramp-2k|hold-5k|max-rate|hold-10k)/.test(row.workload),
    )
    expect(connectRows).toHaveLength(7)
    for (const row of connectRows)
      expect(row.qr_renders_on_thread, row.workload).toBeGreaterThanOrEqual(0)
    const hold = rows.filter((row) => row.workload === 'hold-10k')
    expect(hold[0]).toMatchObject({ cycles: 2, held: [50, 50], sessions_after: 0 })
    expect(hold[1]).toMatchObject({ cycles: 1, held: [50] })
    const [fanOut, fanOutBare] = rows.filter((row) => row.workload === 'fan-out')
    // Exact counts: one delivery per subscriber and rotation, none missing, none twice.
    for (const row of [fanOut, fanOutBare])
      expect(row).toMatchObject({ rotations: 1, answered: 20, missing: 0, duplicates: 0 })
    expect(fanOut).toMatchObject({ renders_during_rotations: 1, qr_ms: summary })
    expect(fanOut.ratio_to_bare_p99).toEqual(expect.any(Number))
    // --timeline=250: every client of a connect workload counted once, in the quarter second it
    // was due (0, 0.25, 0.5, ...).
    const timeline = output.split('timeline max-rate 100 hub: ')[1]!.split('\n').slice(1)
    const perBin = timeline.slice(
      0,
      timeline.findIndex((line) => !/^ {2}[\d.]+ {2}\d+ {2}/.test(line)),
    )
    expect(perBin.map((line) => Number(line.trim().split(/\s+/)[0]) * 4)).toEqual(
      perBin.map((_, i) => i),
    )
    expect(perBin.reduce((sum, line) => sum + Number(line.trim().split(/\s+/)[1]), 0)).toBe(
      rows.find((row) => row.workload === 'max-rate 100' && row.server === 'hub').clients,
    )
    expect(output).toMatch(/^WA Link Hub benchmark .*; host check \d+\/\d+ ms$/m)
    expect(output).toMatch(/^workload\s+server\s+gen\s+clients\s+ok\/fail/m)
    expect(output).toMatch(/^fan-out\s+bare\s+.* ref /m)
  }, 120_000)
})
