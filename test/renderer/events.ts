import type { QrCodeEvent, StatusEvent } from '../../server/protocol'

export function qrEvent(
  sessionId: string,
  attempt: number,
  overrides: Partial<QrCodeEvent> = {},
): QrCodeEvent {
  const issued = Date.now()
  return {
    type: 'qr_code',
    session_id: sessionId,
    qr_data: `2@ref-${attempt},AAA=,BBB=,CCC=`,
    qr_image: `data:image/png;base64,QR${attempt}`,
    issued_at: new Date(issued).toISOString(),
    expires_at: new Date(issued + (attempt === 1 ? 60_000 : 20_000)).toISOString(),
    attempt,
    attempts_max: 6,
    message: 'scan',
    ...overrides,
  }
}

export function statusEvent(
  sessionId: string,
  status: StatusEvent['status'],
  extra: Partial<StatusEvent> = {},
): StatusEvent {
  return {
    type: 'status',
    session_id: sessionId,
    status,
    authenticated: status === 'authenticated',
    reconnecting: false,
    health: 'ok',
    message: '',
    updated_at: new Date().toISOString(),
    ...extra,
  }
}
