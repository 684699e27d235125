import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client'
import type { SessionStatus } from './protocol'

export interface HubMetrics {
  readonly registry: Registry
  eventIn(event: string): void
  eventOut(event: string): void
  error(code: string): void
  qrRendered(): void
}

/**
 * One registry per hub (not prom-client's global one), so several hubs in one process, as in the
 * tests, keep separate numbers. Gauges are read when scraped, never kept up to date by hand.
 */
export function createMetrics(read: {
  clients: () => number
  sessions: () => Record<SessionStatus, number>
}): HubMetrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'wa_link_hub_' })

  new Gauge({
    name: 'wa_link_hub_clients',
    help: 'Connected Socket.IO clients',
    registers: [registry],
    collect() {
      this.set(read.clients())
    },
  })
  new Gauge({
    name: 'wa_link_hub_sessions',
    help: 'Sessions by status',
    labelNames: ['status'],
    registers: [registry],
    collect() {
      for (const [status, count] of Object.entries(read.sessions())) this.set({ status }, count)
    },
  })
  const eventsIn = new Counter({
    name: 'wa_link_hub_events_in_total',
    help: 'Socket.IO events received, by name',
    labelNames: ['event'],
    registers: [registry],
  })
  const eventsOut = new Counter({
    name: 'wa_link_hub_events_out_total',
    help: 'Socket.IO events sent (one per emit, to a client or a room), by name',
    labelNames: ['event'],
    registers: [registry],
  })
  const errors = new Counter({
    name: 'wa_link_hub_errors_total',
    help: 'Errors reported to clients, by code',
    labelNames: ['code'],
    registers: [registry],
  })
  const qrRenders = new Counter({
    name: 'wa_link_hub_qr_renders_total',
    help: 'QR images rendered (once per issued QR, however many subscribers)',
    registers: [registry],
  })

  return {
    registry,
    eventIn: (event) => eventsIn.inc({ event }),
    eventOut: (event) => eventsOut.inc({ event }),
    error: (code) => errors.inc({ code }),
    qrRendered: () => qrRenders.inc(),
  }
}
