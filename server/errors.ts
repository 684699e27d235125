import type { ErrorCode } from './protocol'

/** An error meant for the client: a protocol code for programs, a message for people. */
export class HubError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly sessionId?: string,
  ) {
    super(message)
    this.name = 'HubError'
  }
}
