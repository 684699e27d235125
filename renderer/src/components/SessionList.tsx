import { useI18n } from '../i18n'
import type { SessionView } from '../state/hub-state'
import { StateChip } from './StateChip'

interface Props {
  sessions: Record<string, SessionView>
  order: string[]
  selected?: string
  disabled: boolean
  onSelect(sessionId: string): void
  onLinkNew(): void
}

export function phoneOf(jid: string): string {
  const user = jid.split('@')[0] ?? jid
  return /^\d+$/.test(user) ? `+${user}` : user
}

export function SessionList({ sessions, order, selected, disabled, onSelect, onLinkNew }: Props) {
  const { t } = useI18n()
  return (
    <section className="card sessions" aria-labelledby="sessions-title">
      <div className="card-head">
        <h2 id="sessions-title">{t('sessions.title')}</h2>
        <button type="button" onClick={onLinkNew} disabled={disabled}>
          {t('sessions.linkNew')}
        </button>
      </div>
      {order.length === 0 ? (
        <p className="muted">{t('sessions.empty')}</p>
      ) : (
        <ul>
          {[...order].reverse().map((id) => {
            const session = sessions[id]!
            const user = session.status.user
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
                  {user && <span className="session-number">{phoneOf(user.id)}</span>}
                  <StateChip status={session.status} />
                </button>
              </li>
            )
          })}
        </ul>
      )}
    </section>
  )
}
