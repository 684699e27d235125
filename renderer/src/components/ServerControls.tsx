import { useState } from 'react'
import type { DesktopApi, ServerStatus } from '../../../preload/api'
import { useI18n } from '../i18n'

/** Desktop window only: the embedded server's state and its controls. */
export function ServerControls({
  desktop,
  status,
}: {
  desktop: DesktopApi
  status: ServerStatus | null
}) {
  const { t } = useI18n()
  const [copied, setCopied] = useState(false)
  const [busy, setBusy] = useState(false)
  if (!status) return null
  const running = status.state === 'running'

  const run = async (action: () => Promise<unknown>) => {
    setBusy(true)
    try {
      await action()
    } finally {
      setBusy(false)
    }
  }
  const copyUrl = async () => {
    const info = await desktop.server.connectionInfo()
    if (!info) return
    await navigator.clipboard.writeText(info.accessUrl)
    setCopied(true)
    setTimeout(() => setCopied(false), 1500)
  }

  return (
    <section className="card server" aria-labelledby="server-title" data-testid="server-controls">
      <h2 id="server-title">{t('server.title')}</h2>
      <span className={`chip chip-server-${status.state}`} role="status" aria-live="polite">
        {t(`server.state.${status.state}`)}
      </span>
      <span>{t('server.port', { port: status.port })}</span>
      <span>{t('server.clients', { count: status.clients })}</span>
      {running ? (
        <button type="button" disabled={busy} onClick={() => run(() => desktop.server.stop())}>
          {t('server.stop')}
        </button>
      ) : (
        <button
          type="button"
          disabled={busy || status.state === 'starting'}
          onClick={() => run(() => desktop.server.start())}
        >
          {t('server.start')}
        </button>
      )}
      {running && status.url && (
        <span className="access-url">
          {t('server.accessUrl')}: <code>{status.url}</code>
          <button type="button" onClick={() => void copyUrl()}>
            {copied ? t('server.copied') : t('server.copy')}
          </button>
        </span>
      )}
      <button type="button" className="link" onClick={() => void desktop.logs.openFolder()}>
        {t('server.openLogs')}
      </button>
      {status.error && (
        <p className="alert" role="alert">
          {status.error.message}
        </p>
      )}
    </section>
  )
}
