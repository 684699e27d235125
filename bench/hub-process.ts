/**
 * The hub under test, in its own process so its RSS and CPU are its own. Configured by env like
 * `npm run serve`; talks to the benchmark over IPC: `ready`, then `sample` on request.
 */
import { loadConfig } from '../server/config'
import { createHub } from '../server/hub'
import { createConsoleLogger } from '../server/logger'

type Request = { type: 'sample'; id: number; gc?: boolean } | { type: 'stop' }

const config = loadConfig(process.env)
const hub = createHub(config, { logger: createConsoleLogger(config.logLevel) })
const info = await hub.start()
process.send?.({ type: 'ready', url: info.url, token: info.token })

process.on('message', (request: Request) => {
  if (request.type === 'stop') {
    void hub.stop().then(() => process.exit(0))
    return
  }
  if (request.gc) (globalThis as { gc?: () => void }).gc?.()
  const memory = process.memoryUsage()
  const status = hub.status()
  process.send?.({
    type: 'sample',
    id: request.id,
    rss: memory.rss,
    heapUsed: memory.heapUsed,
    heapTotal: memory.heapTotal,
    external: memory.external,
    cpuMicros: process.cpuUsage().user + process.cpuUsage().system,
    sessions: status.sessions.total,
    clients: status.clients,
  })
})
