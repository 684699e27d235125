import { io } from 'socket.io-client'

/** What the UI needs of a Socket.IO client socket; tests pass a fake with the same shape. */
export interface HubSocket {
  on(event: string, listener: (...args: never[]) => void): unknown
  emit(event: string, ...args: unknown[]): unknown
  emitWithAck(event: string, payload: unknown): Promise<unknown>
  close(): unknown
  io: { on(event: string, listener: (...args: never[]) => void): unknown }
}

export type Transport = (url: string, token: string) => HubSocket

/** socket.io-client with its automatic reconnection (1 s growing to 5 s, forever). */
export const socketIoTransport: Transport = (url, token) =>
  io(url, { auth: { token }, transports: ['websocket', 'polling'] }) as unknown as HubSocket
