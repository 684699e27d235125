import { useCallback, useEffect, useReducer, useRef } from 'react'
import type { Ack, ErrorBody, StatusEvent, TimelineAck } from '../../../server/protocol'
import { ServerEvent } from '../../../server/protocol'
import { hubReducer, initialHubState, type ServerEventMessage } from '../state/hub-state'
import type { HubSocket, Transport } from './transport'

/** The hub answers 20 events/s per client: re-subscribing to many sessions is paced below that. */
const SUBSCRIBE_SPACING_MS = 60

export type ActionResult = { ok: true; sessionId?: string } | { ok: false; error: ErrorBody }

/**
 * One Socket.IO connection to the hub and the state it drives. On every (re)connect the UI lists
 * the sessions and subscribes to each again, so it is up to date without anyone clicking.
 */
export function useHub({
  url,
  token,
  transport,
}: {
  url: string | null
  token: string | null
  transport: Transport
}) {
  const [state, dispatch] = useReducer(hubReducer, initialHubState)
  const socketRef = useRef<HubSocket | null>(null)
  const timelineRequests = useRef(0)

  useEffect(() => {
    if (!url || !token) {
      dispatch({ type: 'connection', connection: { kind: 'no_token' } })
      return
    }
    dispatch({ type: 'connection', connection: { kind: 'connecting' } })
    const socket = transport(url, token)
    socketRef.current = socket
    let closed = false

    const resync = async () => {
      const ack = (await socket.emitWithAck('list_sessions', {})) as Ack<{
        sessions: StatusEvent[]
      }>
      if (closed || !ack.ok) return
      dispatch({ type: 'sessions_listed', sessions: ack.sessions })
      for (const session of ack.sessions) {
        if (closed) return
        socket.emit('subscribe', { session_id: session.session_id })
        await new Promise((resolve) => setTimeout(resolve, SUBSCRIBE_SPACING_MS))
      }
    }

    socket.on('connect', () => {
      dispatch({ type: 'connection', connection: { kind: 'connected' } })
      void resync()
    })
    socket.on('disconnect', (reason: string) => {
      if (reason !== 'io client disconnect') {
        dispatch({ type: 'connection', connection: { kind: 'reconnecting', attempt: 1 } })
      }
    })
    socket.on('connect_error', (error: Error) => {
      if (error.message === 'unauthorized') {
        dispatch({ type: 'connection', connection: { kind: 'unauthorized' } })
        socket.close()
      } else {
        dispatch({ type: 'connection', connection: { kind: 'reconnecting', attempt: 1 } })
      }
    })
    socket.io.on('reconnect_attempt', (attempt: number) =>
      dispatch({ type: 'connection', connection: { kind: 'reconnecting', attempt } }),
    )
    socket.io.on('reconnect_failed', () =>
      dispatch({ type: 'connection', connection: { kind: 'offline' } }),
    )
    for (const name of Object.values(ServerEvent)) {
      socket.on(name, (payload: never) =>
        dispatch({ type: 'server_event', event: { name, payload } as ServerEventMessage }),
      )
    }
    return () => {
      closed = true
      socketRef.current = null
      socket.close()
    }
  }, [url, token, transport])

  const request = useCallback(async (event: string, payload: object): Promise<ActionResult> => {
    const socket = socketRef.current
    if (!socket) return { ok: false, error: { code: 'internal', message: 'not connected' } }
    const ack = (await socket.emitWithAck(event, payload)) as Ack<{ session_id?: string }>
    if (!ack.ok) {
      dispatch({ type: 'request_failed', event, error: ack.error })
      return ack
    }
    if (ack.session_id) dispatch({ type: 'select', sessionId: ack.session_id })
    return { ok: true, ...(ack.session_id ? { sessionId: ack.session_id } : {}) }
  }, [])

  /** `get_timeline`; the answer lands in the session's `timeline` unless a newer request went out. */
  const loadTimeline = useCallback(async (sessionId: string) => {
    const request = ++timelineRequests.current
    dispatch({ type: 'timeline_requested', sessionId, request })
    const socket = socketRef.current
    if (!socket) {
      dispatch({
        type: 'timeline_failed',
        sessionId,
        request,
        error: { code: 'internal', message: 'not connected' },
      })
      return
    }
    const ack = (await socket.emitWithAck('get_timeline', {
      session_id: sessionId,
    })) as Ack<TimelineAck>
    dispatch(
      ack.ok
        ? { type: 'timeline_loaded', sessionId, request, events: ack.events }
        : { type: 'timeline_failed', sessionId, request, error: ack.error },
    )
  }, [])

  const simulateScan = useCallback(
    async (sessionId: string, qrData: string): Promise<ActionResult> => {
      if (!url || !token) return { ok: false, error: { code: 'unauthorized', message: 'no token' } }
      const response = await fetch(
        new URL(`api/sessions/${encodeURIComponent(sessionId)}/simulate-scan`, url),
        {
          method: 'POST',
          headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
          body: JSON.stringify({ qr_data: qrData }),
        },
      )
      if (response.ok) return { ok: true }
      const body = (await response.json().catch(() => ({}))) as Partial<ErrorBody>
      return {
        ok: false,
        error: {
          code: (body.code ?? 'internal') as ErrorBody['code'],
          message: body.message ?? response.statusText,
        },
      }
    },
    [url, token],
  )

  return {
    state,
    dispatch,
    linkNew: (phoneNumber?: string) =>
      request('get_qr', phoneNumber ? { phone_number: phoneNumber } : {}),
    requestCode: (sessionId: string, phoneNumber?: string) =>
      request('get_qr', {
        session_id: sessionId,
        ...(phoneNumber ? { phone_number: phoneNumber } : {}),
      }),
    disconnect: (sessionId: string) => request('disconnect_whatsapp', { session_id: sessionId }),
    loadTimeline,
    simulateScan,
  }
}
