import type { StatusEvent } from '../../../server/protocol'
import { useI18n } from '../i18n'

export function StateChip({ status }: { status: StatusEvent }) {
  const { t } = useI18n()
  const kind = status.reconnecting ? 'reconnecting' : status.status
  const label = status.reconnecting ? t('status.reconnecting') : t(`status.${status.status}`)
  const reason =
    status.status === 'disconnected' && status.reason ? ` — ${t(`reason.${status.reason}`)}` : ''
  return (
    <span className={`chip chip-${kind}`} data-testid="state-chip">
      {label}
      {reason}
    </span>
  )
}
