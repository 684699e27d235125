import { useEffect, useState } from 'react'
import type { DataKeyStatus, DesktopApi } from '../../../preload/api'
import { useI18n } from '../i18n'

/**
 * Desktop window only: says so when the key that encrypts the accounts' credentials is not
 * protected by the OS keystore, or when a new key replaced one that could not be unlocked.
 * Nothing when all is well.
 */
export function DataKeyNotice({ desktop }: { desktop: DesktopApi }) {
  const { t } = useI18n()
  const [status, setStatus] = useState<DataKeyStatus | null>(null)

  useEffect(() => {
    let live = true
    void desktop.dataKey.status().then((next) => {
      if (live) setStatus(next)
    })
    return () => {
      live = false
    }
  }, [desktop])

  if (!status || (status.protection === 'os' && !status.unreadableKeptAs)) return null
  return (
    <div className="banner" role="alert" data-testid="data-key-notice">
      {status.protection !== 'os' && <p>{t(`dataKey.${status.protection}`)}</p>}
      {status.unreadableKeptAs && <p>{t('dataKey.replaced', { file: status.unreadableKeptAs })}</p>}
    </div>
  )
}
