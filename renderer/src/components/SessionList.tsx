import { useState } from 'react'
import type { ActionResult } from '../hooks/use-hub'
import { useI18n } from '../i18n'
import type { SessionView } from '../state/hub-state'
import { HealthChip, isDegraded } from './HealthChip'
import { StateChip } from './StateChip'

interface Props {
  sessions: Record<string, SessionView>
  order: string[]
  selected?: string
  disabled: boolean
  onSelect(sessionId: string): void
  onLinkNew(): Promise<ActionResult>
}

export function phoneOf(jid: string): string {
  const user = jid.split('@')[0] ?? jid
  return /^\d+$/.test(user) ? `+${user}` : user
}

export function SessionList({ sessions, order, selected, disabled, onSelect, onLinkNew }: Props) {
  const { t } = useI18n()
  const [problem, setProblem] = useState<string | null>(null)
  const linkNew = async () => {
    setProblem(null)
    const result = await onLinkNew()
    // e.g. limit_reached: the hub's sentence says which limit and what to do
    if (!result.ok) setProblem(result.error.message)
  }
  return (
    <section className="card sessions" aria-labelledby="sessions-title">
      <div className="card-head">
        <h2 id="sessions-title">{t('sessions.title')}</h2>
        <button type="button" onClick={() => void linkNew()} disabled={disabled}>
          {t('sessions.linkNew')}
        </button>
      </div>
      {problem && (
        <p className="alert link-problem" role="alert">
          {problem}
        </p>
      )}
      {order.length === 0 ? (
        <p className="muted">{t('sessions.empty')}</p>
      ) : (
        <ul>
          {[...order].reverse().map((id) => {
            const session = sessions[id]!
            const { user, health_reason } = session.status
            return (
              <li key={id}>
                <button
                  type="button"
                  className={`session ${id === selected ? 'selected' : ''}`}
                  aria-current={id === selected}
                  onClick={() => onSelect(id)}
                  data-session={id}
                >
                  <span className="session-name">{user ? user.name : id.slice(0, 13)}</span>
                  <span className="session-chips">
                    <StateChip status={session.status} />
                    <HealthChip status={session.status} />
                  </span>
                  {user && <span className="session-number">{phoneOf(user.id)}</span>}
                  {isDegraded(session.status) && health_reason && (
                    <span className="session-health">{health_reason}</span>
                  )}
                </button>
              </li>
            )
          })}
        </ul>
      )}
    </section>
  )
}
