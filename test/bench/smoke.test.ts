import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../..', import.meta.url))

/**
 * Runs `npm run bench --smoke`: every workload, tiny. Checks that the benchmark still works and
 * reports what it promises. It asserts no timings: speed is the benchmark's business, not a test's.
 */
describe('npm run bench (smoke)', () => {
  it('runs every workload and prints a table and one JSON line per workload', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--smoke'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
    expect(code, output).toBe(0)

    const lines = output
      .split('\n')
      .filter((line) => line.startsWith('BENCH '))
      .map((line) => JSON.parse(line.slice('BENCH '.length)))
    expect(lines.map((line) => line.workload)).toEqual([
      'ramp-2k',
      'hold-5k',
      'max-rate',
      'hold-10k',
      'fan-out',
      'fan-out bare',
    ])
    for (const line of lines) {
      expect(line, line.workload).toMatchObject({
        clients: expect.any(Number),
        answered: line.clients,
        failures: 0,
        qr_ms: {
          p50: expect.any(Number),
          p90: expect.any(Number),
          p99: expect.any(Number),
          max: expect.any(Number),
        },
        met: expect.any(Boolean),
      })
      // The bare Socket.IO reference has no hub to sample.
      if (!line.reference)
        expect(line, line.workload).toMatchObject({
          rss_peak_mb: expect.any(Number),
          cpu_percent: expect.any(Number),
        })
    }
    expect(lines.find((line) => line.workload === 'hold-10k')).toMatchObject({ sessions_after: 0 })
    expect(
      lines.find((line) => line.workload === 'fan-out')!.renders_during_rotations,
    ).toBeGreaterThanOrEqual(1)
    expect(lines.find((line) => line.workload === 'fan-out bare')).toMatchObject({
      reference: true,
      rotations: 1,
    })
    expect(output).toMatch(/^workload\s+clients\s+ok\/fail/m)
    expect(output).toMatch(/^fan-out bare .* ref\s*$/m)
  }, 120_000)
})
