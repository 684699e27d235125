import { useEffect, useState, type FormEvent } from 'react'
import type { DesktopApi, Settings } from '../../../preload/api'
import { useI18n } from '../i18n'

/** Desktop window only: port, address, provider, close-to-tray and notifications. Saving
 *  restarts the server when the port, address or provider changed. */
export function SettingsForm({ desktop }: { desktop: DesktopApi }) {
  const { t } = useI18n()
  const [saved, setSaved] = useState<Settings | null>(null)
  const [draft, setDraft] = useState<Settings | null>(null)
  const [message, setMessage] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null)

  useEffect(() => {
    let live = true
    void desktop.settings.get().then((settings) => {
      if (!live) return
      setSaved(settings)
      setDraft(settings)
    })
    return () => {
      live = false
    }
  }, [desktop])

  if (!draft || !saved) return null

  const submit = async (event: FormEvent) => {
    event.preventDefault()
    setMessage(null)
    const patch = Object.fromEntries(
      Object.entries(draft).filter(([key, value]) => saved[key as keyof Settings] !== value),
    ) as Partial<Settings>
    try {
      const next = await desktop.settings.set(patch)
      setSaved(next)
      setDraft(next)
      setMessage({ kind: 'ok', text: t('settings.saved') })
    } catch (error) {
      setMessage({
        kind: 'error',
        text: (error as Error).message.replace(
          /^Error invoking remote method '[^']+': (Error: )?/,
          '',
        ),
      })
    }
  }

  return (
    <details className="card settings" data-testid="settings">
      <summary>{t('settings.title')}</summary>
      <form onSubmit={submit}>
        <label>
          {t('settings.port')}
          <input
            type="number"
            min={1}
            max={65535}
            value={draft.port}
            onChange={(event) => setDraft({ ...draft, port: Number(event.target.value) })}
          />
        </label>
        <label>
          {t('settings.host')}
          <input
            value={draft.host}
            onChange={(event) => setDraft({ ...draft, host: event.target.value })}
          />
        </label>
        <label>
          {t('settings.provider')}
          <select
            value={draft.provider}
            onChange={(event) =>
              setDraft({ ...draft, provider: event.target.value as Settings['provider'] })
            }
          >
            <option value="simulated">{t('settings.provider.simulated')}</option>
            <option value="baileys">{t('settings.provider.baileys')}</option>
          </select>
        </label>
        <label>
          <input
            type="checkbox"
            checked={draft.closeToTray}
            onChange={(event) => setDraft({ ...draft, closeToTray: event.target.checked })}
          />
          {t('settings.closeToTray')}
        </label>
        <label>
          <input
            type="checkbox"
            checked={draft.notifications}
            onChange={(event) => setDraft({ ...draft, notifications: event.target.checked })}
          />
          {t('settings.notifications')}
        </label>
        <button type="submit">{t('settings.save')}</button>
        {message && (
          <p
            className={message.kind === 'error' ? 'alert' : 'muted'}
            role={message.kind === 'error' ? 'alert' : 'status'}
          >
            {message.text}
          </p>
        )}
      </form>
    </details>
  )
}
