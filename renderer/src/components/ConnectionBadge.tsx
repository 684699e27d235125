import { useI18n } from '../i18n'
import type { Connection } from '../state/hub-state'

export function ConnectionBadge({ connection }: { connection: Connection }) {
  const { t } = useI18n()
  const text =
    connection.kind === 'reconnecting'
      ? t('connection.reconnecting', { attempt: connection.attempt })
      : t(`connection.${connection.kind}`)
  return (
    <span
      className={`badge badge-${connection.kind}`}
      role="status"
      aria-live="polite"
      data-testid="connection"
    >
      <span className="dot" aria-hidden="true" />
      {text}
    </span>
  )
}
