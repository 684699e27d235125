import { randomUUID } from 'node:crypto'
import type { Redis } from 'ioredis'
import { HubError } from '../errors'
import type { Logger } from '../logger'
import { ERROR_CODES, type ErrorCode } from '../protocol'
import { OwnedElsewhereError } from '../sessions/session-manager'
import { redisKeys } from '../store/redis-keys'

export type RpcHandler = (args: Record<string, unknown>) => Promise<unknown>

interface Request {
  kind: 'request'
  id: string
  from: string
  method: string
  args: Record<string, unknown>
}

interface Reply {
  kind: 'reply'
  id: string
  ok: boolean
  result?: unknown
  error?: { code: ErrorCode; message: string; session_id?: string; moved?: boolean }
}

interface Pending {
  method: string
  resolve(value: unknown): void
  reject(error: Error): void
  timer: NodeJS.Timeout
}

export interface RpcOptions {
  instanceId: string
  /** Publishes (fails at once while Redis is away). */
  publisher: Redis
  /** A connection of its own, in subscriber mode. */
  subscriber: Redis
  timeoutMs: number
  /** Calls waiting for an answer at most; more are refused (a flood must not eat memory). */
  maxPending: number
  logger: Logger
  onCall?(method: string, outcome: 'ok' | 'error' | 'timeout' | 'refused'): void
}

/**
 * Commands forwarded to the hub that owns a session, over Redis pub/sub: each hub listens on its
 * own channel and answers on the caller's. An owner that does not answer in `timeoutMs` gives the
 * caller an `unavailable` error; errors the owner raised come back with their code.
 */
export class Rpc {
  private readonly pending = new Map<string, Pending>()
  private readonly handlers = new Map<string, RpcHandler>()
  private serving = true

  private constructor(private readonly options: RpcOptions) {}

  static async start(options: RpcOptions): Promise<Rpc> {
    const rpc = new Rpc(options)
    const channel = redisKeys.rpc(options.instanceId)
    // The connection may carry other channels too.
    options.subscriber.on('messageBuffer', (from: Buffer, message: Buffer) => {
      if (from.toString() === channel) rpc.receive(message)
    })
    await options.subscriber.subscribe(channel)
    return rpc
  }

  handle(method: string, handler: RpcHandler): void {
    this.handlers.set(method, handler)
  }

  get waiting(): number {
    return this.pending.size
  }

  call(instance: string, method: string, args: Record<string, unknown>): Promise<unknown> {
    const { timeoutMs, maxPending, publisher, instanceId } = this.options
    if (this.pending.size >= maxPending) {
      this.options.onCall?.(method, 'refused')
      return Promise.reject(
        new HubError('unavailable', 'Too many requests are waiting for other hubs; try again'),
      )
    }
    const id = randomUUID()
    const request: Request = { kind: 'request', id, from: instanceId, method, args }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        this.options.onCall?.(method, 'timeout')
        reject(
          new HubError(
            'unavailable',
            `The hub that owns this session did not answer within ${timeoutMs} ms; try again`,
          ),
        )
      }, timeoutMs)
      timer.unref()
      this.pending.set(id, { method, resolve, reject, timer })
      const fail = (message: string) => {
        clearTimeout(timer)
        this.pending.delete(id)
        this.options.onCall?.(method, 'error')
        reject(new HubError('unavailable', message))
      }
      publisher.publish(redisKeys.rpc(instance), JSON.stringify(request)).then(
        (listeners) => {
          // Nobody listens on that hub's channel: it is gone; its sessions move within a lease.
          if (listeners === 0) {
            fail(
              'The hub that owns this session is gone; it moves to another hub within seconds. Try again',
            )
          }
        },
        () => fail('Redis is unreachable: the request cannot be forwarded'),
      )
    })
  }

  /** This hub is stopping: requests are sent back, to be asked of whoever owns the session next. */
  stopServing(): void {
    this.serving = false
  }

  /** Fails every waiting call (the hub stops). */
  close(): void {
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer)
      pending.reject(new HubError('unavailable', 'The hub is stopping'))
      this.pending.delete(id)
    }
  }

  private receive(raw: Buffer): void {
    let message: Request | Reply
    try {
      message = JSON.parse(raw.toString('utf8')) as Request | Reply
    } catch {
      this.options.logger.warn('Ignoring a malformed message between hubs')
      return
    }
    if (message.kind === 'reply') this.settle(message)
    else if (message.kind === 'request') void this.answer(message)
  }

  private settle(reply: Reply): void {
    const pending = this.pending.get(reply.id)
    if (!pending) return // timed out already
    this.pending.delete(reply.id)
    clearTimeout(pending.timer)
    this.options.onCall?.(pending.method, reply.ok ? 'ok' : 'error')
    if (reply.ok) {
      pending.resolve(reply.result)
      return
    }
    // The session moved while the command travelled: the caller looks for its owner again.
    if (reply.error?.moved && reply.error.session_id) {
      pending.reject(new OwnedElsewhereError(reply.error.session_id))
      return
    }
    const code = ERROR_CODES.includes(reply.error?.code as ErrorCode)
      ? (reply.error!.code as ErrorCode)
      : 'internal'
    pending.reject(new HubError(code, reply.error?.message ?? 'failed', reply.error?.session_id))
  }

  private async answer(request: Request): Promise<void> {
    const handler = this.handlers.get(request.method)
    let reply: Reply
    try {
      if (!this.serving) throw new OwnedElsewhereError(String(request.args.id ?? ''))
      if (!handler)
        throw new HubError('internal', `no such command between hubs: ${request.method}`)
      reply = { kind: 'reply', id: request.id, ok: true, result: await handler(request.args) }
    } catch (error) {
      if (error instanceof HubError) {
        reply = {
          kind: 'reply',
          id: request.id,
          ok: false,
          error: {
            code: error.code,
            message: error.message,
            ...(error.sessionId ? { session_id: error.sessionId } : {}),
            ...(error instanceof OwnedElsewhereError ? { moved: true } : {}),
          },
        }
      } else {
        this.options.logger.error('A command forwarded by another hub failed', {
          method: request.method,
          error,
        })
        reply = {
          kind: 'reply',
          id: request.id,
          ok: false,
          error: { code: 'internal', message: 'Internal error; the hub keeps running' },
        }
      }
    }
    await this.options.publisher
      .publish(redisKeys.rpc(request.from), JSON.stringify(reply))
      .catch(() => undefined) // the caller times out
  }
}
