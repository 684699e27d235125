import { useEffect, useId, useMemo, useState } from 'react'
import type { TimelineEntry } from '../../../server/protocol'
import { useI18n } from '../i18n'
import type { SessionView } from '../state/hub-state'

interface Props {
  session: SessionView
  onLoad(sessionId: string): void
}

/**
 * An account's connection history, behind a disclosure button. Opening it loads `get_timeline`;
 * while it is open, every `status` push for the account loads it again (the hub records the event
 * before it announces the change), so it follows along without polling.
 */
export function ConnectionHistory({ session, onLoad }: Props) {
  const { t } = useI18n()
  const [open, setOpen] = useState(false)
  const regionId = useId()
  const { id, statusRevision, timeline } = session

  useEffect(() => {
    if (open) onLoad(id)
  }, [open, id, statusRevision, onLoad])

  return (
    <div className="history">
      <button
        type="button"
        className="disclosure"
        aria-expanded={open}
        aria-controls={regionId}
        onClick={() => setOpen(!open)}
      >
        {t('history.title')}
      </button>
      {open && (
        <section
          id={regionId}
          className="history-body"
          aria-label={t('history.title')}
          aria-busy={timeline?.loading ?? true}
          data-testid="connection-history"
        >
          {timeline?.error ? (
            <div role="alert">
              <p className="alert">{t('history.failed', { message: timeline.error.message })}</p>
              <button type="button" onClick={() => onLoad(id)}>
                {t('history.retry')}
              </button>
            </div>
          ) : !timeline?.events ? (
            <p className="muted">{t('history.loading')}</p>
          ) : timeline.events.length === 0 ? (
            <p className="muted">{t('history.empty')}</p>
          ) : (
            <Entries events={timeline.events} />
          )}
        </section>
      )}
    </div>
  )
}

/** Newest first: what happened last is what a reader opening the history is after. */
function Entries({ events }: { events: TimelineEntry[] }) {
  const { t, language } = useI18n()
  const format = useMemo(
    () => new Intl.DateTimeFormat(language, { dateStyle: 'medium', timeStyle: 'medium' }),
    [language],
  )
  return (
    <ol className="history-list">
      {events
        .map((entry, index) => ({ entry, index }))
        .reverse()
        .map(({ entry, index }) => (
          <li key={index} className={`history-entry history-${entry.event}`}>
            <div className="history-head">
              <time dateTime={entry.at}>{format.format(new Date(entry.at))}</time>
              <span className="history-event">{t(`history.event.${entry.event}`)}</span>
              {entry.code !== undefined && (
                <span className="history-code">{t('history.code', { code: entry.code })}</span>
              )}
            </div>
            <p className="history-text">{entry.text}</p>
            <p className="history-action">
              {t('history.action', {
                action: entry.action === 'none' ? t('history.noAction') : entry.action,
              })}
            </p>
          </li>
        ))}
    </ol>
  )
}
