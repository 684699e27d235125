import { execFile, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { startTestHub, type TestHub } from '../helpers/hub'

// Debian's interpreter, where `apt-get install python3-socketio` puts the library; a pyenv or
// virtualenv python3 earlier on PATH would not have it.
const PYTHON = '/usr/bin/python3'
const SCRIPT = fileURLToPath(new URL('./clients/link_by_qr.py', import.meta.url))

async function requirePythonSocketIo(): Promise<void> {
  try {
    await promisify(execFile)(PYTHON, ['-c', 'import socketio, requests'])
  } catch (error) {
    throw new Error(
      `${PYTHON} cannot import socketio (${(error as Error).message.trim()}). ` +
        'Install Debian\'s python3-socketio: .ci/run does, or run "apt-get install -y python3-socketio".',
      { cause: error },
    )
  }
}

interface Step {
  step: string
  transport?: string
  provider?: string
  status?: number
  ack?: Record<string, unknown>
  session_id?: string
  user?: { id: string; name: string }
}

function runPython(
  args: string[],
): Promise<{ code: number | null; steps: Step[]; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.once('error', reject)
    child.once('exit', (code) => {
      try {
        const steps = stdout
          .split('\n')
          .filter((line) => line.startsWith('{'))
          .map((line) => JSON.parse(line) as Step)
        resolve({ code, steps, stderr })
      } catch (error) {
        reject(new Error(`unreadable output: ${stdout}${stderr}`, { cause: error }))
      }
    })
  })
}

let t: TestHub
beforeEach(async () => {
  t = await startTestHub()
})
afterEach(async () => {
  await t.close(true)
})

describe('a client from another ecosystem', () => {
  it("links a session with Debian's python3-socketio on its default transports", async () => {
    await requirePythonSocketIo()
    const { code, steps, stderr } = await runPython([t.info.url, t.info.token, 'from-python'])
    expect(code, stderr).toBe(0)
    const step = (name: string) => steps.find((s) => s.step === name)
    // python-engineio's handshake is a polling request; it upgrades to websocket before
    // connect() returns, so a hub that answers only websockets refuses it at the first step.
    expect(step('connected')).toMatchObject({ provider: 'simulated' })
    expect(step('ack')).toMatchObject({
      ack: { ok: true, session_id: 'from-python', status: 'qr_ready' },
    })
    expect(step('qr_code')).toMatchObject({ session_id: 'from-python' })
    expect(step('scan')).toMatchObject({ status: 200 })
    expect(step('authenticated')).toMatchObject({
      session_id: 'from-python',
      user: { name: 'Python' },
    })
    expect(step('done')).toMatchObject({ transport: 'websocket' })
  })
})
