import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../..', import.meta.url))

describe('memory per session', () => {
  it('gives back what 20,000 created and expired sessions held', async () => {
    // Its own process, to read the live heap after a full GC without the test runner's noise.
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', 'test/fixtures/session-churn.ts'],
      { cwd: root, env: { ...process.env, SESSIONS: '20000' }, timeout: 170_000 },
    )
    const result = JSON.parse(stdout) as {
      created: number
      before: number
      after: number
      left: number
    }
    expect(result.created).toBe(20_000)
    expect(result.left).toBe(0)
    // A session kept after its end held 2.5-8 KB (50-160 MB for 20,000); allow 4 MB of noise.
    expect(result.after - result.before).toBeLessThan(4 * 1024 * 1024)
  }, 180_000)
})
