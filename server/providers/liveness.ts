/**
 * Watches a linked connection for silence. WhatsApp answers keep-alives, so a connection that
 * reports open but has received nothing for `silenceMs` is a zombie: `degraded` is reported then,
 * and if another `silenceMs` passes without a frame, `dead` (the provider reconnects). A frame
 * after `degraded` reports `recovered`.
 */
export class LivenessMonitor {
  private lastFrameAt = 0
  private state: 'idle' | 'ok' | 'degraded' = 'idle'
  private timer?: NodeJS.Timeout

  constructor(
    private readonly silenceMs: number,
    private readonly on: {
      degraded(silentForMs: number): void
      recovered(): void
      dead(silentForMs: number): void
    },
    private readonly now: () => number = Date.now,
  ) {}

  /** The connection is open: watching starts. */
  start(): void {
    this.lastFrameAt = this.now()
    this.state = 'ok'
    this.schedule(this.silenceMs)
  }

  /** A frame arrived from WhatsApp. */
  seen(): void {
    if (this.state === 'idle') return
    this.lastFrameAt = this.now()
    if (this.state === 'degraded') {
      this.state = 'ok'
      this.on.recovered()
    }
  }

  /** The connection closed or the link ended: nothing to watch. */
  stop(): void {
    this.state = 'idle'
    clearTimeout(this.timer)
    this.timer = undefined
  }

  private schedule(inMs: number): void {
    clearTimeout(this.timer)
    this.timer = setTimeout(() => this.check(), inMs)
    this.timer.unref()
  }

  private check(): void {
    if (this.state === 'idle') return
    const silent = this.now() - this.lastFrameAt
    if (silent < this.silenceMs) {
      this.schedule(this.silenceMs - silent)
      return
    }
    if (this.state === 'ok') {
      this.state = 'degraded'
      this.on.degraded(silent)
      this.schedule(this.silenceMs)
      return
    }
    if (silent >= 2 * this.silenceMs) {
      this.stop()
      this.on.dead(silent)
      return
    }
    this.schedule(2 * this.silenceMs - silent)
  }
}

/** "WhatsApp has not answered for 90 s" (tenths of a second below 10 s). */
export function describeSilence(ms: number): string {
  const seconds = ms < 10_000 ? (ms / 1000).toFixed(1) : String(Math.round(ms / 1000))
  return `WhatsApp has not answered for ${seconds} s`
}
