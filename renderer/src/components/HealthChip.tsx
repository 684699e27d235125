import type { StatusEvent } from '../../../server/protocol'
import { useI18n } from '../i18n'

/** Degraded is worth a chip only on a linked account that is not already reconnecting. */
export function isDegraded(status: StatusEvent): boolean {
  return status.status === 'authenticated' && status.health === 'degraded' && !status.reconnecting
}

/** "Degraded", in words beside the state chip; nothing while the account is healthy. */
export function HealthChip({ status }: { status: StatusEvent }) {
  const { t } = useI18n()
  if (!isDegraded(status)) return null
  return (
    <span className="chip chip-degraded" data-testid="health-chip">
      {t('health.degraded')}
    </span>
  )
}
