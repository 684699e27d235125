import { useLayoutEffect, useMemo, useRef, useState } from 'react'
import { useI18n } from '../i18n'
import type { ActivityEntry, LogLevel } from '../state/hub-state'

const LEVELS: LogLevel[] = ['debug', 'info', 'warn', 'error']
const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 }

export function formatEntry(entry: ActivityEntry): string {
  const session = entry.sessionId ? ` [${entry.sessionId}]` : ''
  return `${entry.time} ${entry.level.toUpperCase()} ${entry.source}${session} ${entry.message}`
}

/** Live activity: newest at the bottom, following new entries unless the reader scrolled up. */
export function ActivityLog({
  entries,
  sessionIds,
  onClear,
}: {
  entries: ActivityEntry[]
  sessionIds: string[]
  onClear(): void
}) {
  const { t } = useI18n()
  const [level, setLevel] = useState<LogLevel>('info')
  const [session, setSession] = useState('')
  const [follow, setFollow] = useState(true)
  const list = useRef<HTMLOListElement>(null)

  // A session that has gone away stops filtering.
  const shownSession = sessionIds.includes(session) ? session : ''
  const visible = useMemo(
    () =>
      entries.filter(
        (entry) =>
          RANK[entry.level] >= RANK[level] && (!shownSession || entry.sessionId === shownSession),
      ),
    [entries, level, shownSession],
  )

  useLayoutEffect(() => {
    if (follow && list.current) list.current.scrollTop = list.current.scrollHeight
  }, [visible, follow])

  const onScroll = () => {
    const element = list.current
    if (!element) return
    const atBottom = element.scrollHeight - element.scrollTop - element.clientHeight < 24
    setFollow(atBottom)
  }

  return (
    <section className="card log" aria-labelledby="log-title">
      <div className="card-head">
        <h2 id="log-title">{t('log.title')}</h2>
        <label>
          {t('log.level')}
          <select value={level} onChange={(event) => setLevel(event.target.value as LogLevel)}>
            {LEVELS.map((value) => (
              <option key={value} value={value}>
                {value}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t('log.session')}
          <select value={shownSession} onChange={(event) => setSession(event.target.value)}>
            <option value="">{t('log.all')}</option>
            {sessionIds.map((id) => (
              <option key={id} value={id}>
                {id}
              </option>
            ))}
          </select>
        </label>
        <button
          type="button"
          onClick={() => void navigator.clipboard?.writeText(visible.map(formatEntry).join('\n'))}
        >
          {t('log.copy')}
        </button>
        <button type="button" onClick={onClear}>
          {t('log.clear')}
        </button>
        {!follow && <span className="muted">{t('log.paused')}</span>}
      </div>
      <ol
        ref={list}
        onScroll={onScroll}
        tabIndex={0}
        aria-label={t('log.title')}
        data-testid="activity-log"
      >
        {visible.length === 0 && <li className="muted">{t('log.empty')}</li>}
        {visible.map((entry) => (
          <li key={entry.id} className={`entry entry-${entry.level}`}>
            <time dateTime={entry.time}>{entry.time.slice(11, 19)}</time>
            <span className="level">{entry.level}</span>
            {entry.source === 'app' && <span className="source">app</span>}
            {entry.sessionId && (
              <span className="entry-session">{entry.sessionId.slice(0, 8)}</span>
            )}
            <span className="message">{entry.message}</span>
          </li>
        ))}
      </ol>
    </section>
  )
}
