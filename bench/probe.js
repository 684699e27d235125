/**
 * Preloaded into the server under test (`node --import bench/probe.js out/main/cli.js`, and the
 * same for the bare reference) so the benchmark can read the process's memory, CPU and event-loop
 * delay over IPC. It adds nothing else: the server itself is the production build, started as
 * `npm run serve` starts it. Plain JavaScript, so no TypeScript loader runs inside the measured
 * process.
 */
import { readFileSync } from 'node:fs'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'

const loopDelay = monitorEventLoopDelay({ resolution: 10 })
loopDelay.enable()

/**
 * The main thread's time on a CPU, and waiting for one while runnable (µs; Linux schedstat): what
 * a worker thread takes off the main thread, and how much other work on the machine delayed it.
 */
function mainThreadTimes() {
  try {
    const [onCpuNs, waitingNs] = readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8')
      .split(' ')
      .map(Number)
    return { cpu: onCpuNs / 1000, wait: waitingNs / 1000 }
  } catch {
    return { cpu: NaN, wait: NaN }
  }
}

process.on('message', (request) => {
  if (request?.type !== 'sample') return
  if (request.gc) globalThis.gc?.()
  const memory = process.memoryUsage()
  const cpu = process.cpuUsage()
  const ms = (ns) => Math.round(ns / 1e5) / 10
  process.send?.({
    type: 'sample',
    id: request.id,
    rss: memory.rss,
    heapUsed: memory.heapUsed,
    heapTotal: memory.heapTotal,
    external: memory.external,
    cpuMicros: cpu.user + cpu.system,
    mainThread: mainThreadTimes(),
    // Event-loop utilization so far (idle and active ms): how busy the main thread itself was.
    loop: performance.eventLoopUtilization(),
    // How late timers ran since the last reset: the longest stretch the event loop was blocked.
    loopDelayMs: { p99: ms(loopDelay.percentile(99)), max: ms(loopDelay.max) },
  })
  if (request.resetLoopDelay) loopDelay.reset()
})
// The channel must not keep the server alive: it stops on SIGTERM as it does in production.
process.channel?.unref()
