// @vitest-environment node
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const SAFETY_NET = fileURLToPath(new URL('../../main/safety-net.ts', import.meta.url))

/**
 * A real process (vitest's own handlers would catch a real uncaught error here first): a throw in
 * a timer and a rejection nobody awaits, then a timer that proves the process is still alive.
 */
function runFaultyProcess(withSafetyNet: boolean) {
  const script = `
    const { installSafetyNet } = await import(${JSON.stringify(SAFETY_NET)})
    const line = (message, fields) => process.stdout.write(JSON.stringify({ message, ...fields }) + '\\n')
    if (${withSafetyNet}) installSafetyNet({ debug() {}, info() {}, warn() {}, error: line })
    setTimeout(() => { throw new Error('thrown in a timer') }, 5)
    setTimeout(() => void Promise.reject(new Error('rejected with nobody waiting')), 15)
    setTimeout(() => process.stdout.write('still running\\n'), 60)
  `
  return new Promise<{ code: number; stdout: string }>((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      { timeout: 15_000 },
      (error, stdout) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout }),
    )
  })
}

describe('safety net (main)', () => {
  it('logs an uncaught throw and an unhandled rejection with origin and stack, and the process lives on', async () => {
    const { code, stdout } = await runFaultyProcess(true)
    const lines = stdout.trim().split('\n')
    expect(lines.at(-1)).toBe('still running')
    const faults = lines.slice(0, -1).map((line) => JSON.parse(line) as Record<string, string>)
    expect(faults).toEqual([
      expect.objectContaining({
        message: 'Unexpected failure; WA Link Hub keeps running',
        origin: 'uncaughtException',
        error: 'thrown in a timer',
        stack: expect.stringContaining('Error: thrown in a timer\n    at '),
      }),
      expect.objectContaining({
        origin: 'unhandledRejection',
        error: 'rejected with nobody waiting',
        stack: expect.stringContaining('Error: rejected with nobody waiting\n    at '),
      }),
    ])
    expect(code).toBe(0)
  })

  it('is what keeps it alive: without it the same process dies at the first throw', async () => {
    const { code, stdout } = await runFaultyProcess(false)
    expect(code).not.toBe(0)
    expect(stdout).not.toContain('still running')
  })
})
