import { act } from '@testing-library/react'
import type { StatusEvent } from '../../server/protocol'
import type { HubSocket, Transport } from '../../renderer/src/hooks/transport'

type Listener = (...args: unknown[]) => void

/**
 * A stand-in for a socket.io-client socket: records what the UI sends, answers acks like the hub,
 * and lets a test play the server's side (events, drops, reconnects).
 */
export class FakeSocket implements HubSocket {
  readonly sent: { event: string; payload: unknown }[] = []
  sessions: StatusEvent[] = []
  closed = false
  private readonly listeners = new Map<string, Set<Listener>>()
  private readonly managerListeners = new Map<string, Set<Listener>>()
  answers: Record<string, (payload: Record<string, unknown>) => unknown> = {
    list_sessions: () => ({ ok: true, sessions: this.sessions }),
    get_qr: (payload) => ({
      ok: true,
      session_id: payload.session_id ?? 'new-session',
      status: 'pending',
    }),
    disconnect_whatsapp: (payload) => ({
      ok: true,
      session_id: payload.session_id,
      status: 'disconnected',
    }),
    get_timeline: (payload) => ({ ok: true, session_id: payload.session_id, events: [] }),
  }

  constructor(
    readonly url: string,
    readonly token: string,
  ) {}

  io = {
    on: (event: string, listener: (...args: never[]) => void) => {
      add(this.managerListeners, event, listener as Listener)
    },
  }
  on(event: string, listener: (...args: never[]) => void) {
    add(this.listeners, event, listener as Listener)
  }
  emit(event: string, ...args: unknown[]) {
    this.sent.push({ event, payload: args[0] })
  }
  async emitWithAck(event: string, payload: unknown) {
    this.sent.push({ event, payload })
    const answer = this.answers[event]
    return answer ? answer(payload as Record<string, unknown>) : { ok: true }
  }
  close() {
    this.closed = true
  }

  /** The server side. */
  server(event: string, payload?: unknown) {
    act(() => {
      for (const listener of this.listeners.get(event) ?? []) listener(payload)
    })
  }
  manager(event: string, payload?: unknown) {
    act(() => {
      for (const listener of this.managerListeners.get(event) ?? []) listener(payload)
    })
  }
  sentEvents(event: string) {
    return this.sent.filter((entry) => entry.event === event).map((entry) => entry.payload)
  }
}

function add(map: Map<string, Set<Listener>>, event: string, listener: Listener) {
  if (!map.has(event)) map.set(event, new Set())
  map.get(event)!.add(listener)
}

/** A transport that hands out FakeSockets and remembers them. */
export function fakeTransport() {
  const sockets: FakeSocket[] = []
  const transport: Transport = (url, token) => {
    const socket = new FakeSocket(url, token)
    sockets.push(socket)
    return socket
  }
  return { transport, sockets, last: () => sockets.at(-1)! }
}
