/**
 * Preloaded into the server under test (`node --import bench/probe.js out/main/cli.js`, and the
 * same for the bare reference) so the benchmark can read the process's memory and CPU over IPC.
 * It adds nothing else: the server itself is the production build, started as `npm run serve`
 * starts it. Plain JavaScript, so no TypeScript loader runs inside the measured process.
 */
process.on('message', (request) => {
  if (request?.type !== 'sample') return
  if (request.gc) globalThis.gc?.()
  const memory = process.memoryUsage()
  const cpu = process.cpuUsage()
  process.send?.({
    type: 'sample',
    id: request.id,
    rss: memory.rss,
    heapUsed: memory.heapUsed,
    heapTotal: memory.heapTotal,
    external: memory.external,
    cpuMicros: cpu.user + cpu.system,
  })
})
// The channel must not keep the server alive: it stops on SIGTERM as it does in production.
process.channel?.unref()
