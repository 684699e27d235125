import { useEffect } from 'react'
import type { DesktopApi, LogEntry } from '../../preload/api'
import { ActivityLog } from './components/ActivityLog'
import { ConnectionBadge } from './components/ConnectionBadge'
import { DataKeyNotice } from './components/DataKeyNotice'
import { ServerControls } from './components/ServerControls'
import { SessionList } from './components/SessionList'
import { SessionPanel } from './components/SessionPanel'
import { SettingsForm } from './components/SettingsForm'
import { TokenForm } from './components/TokenForm'
import { useBrowserAccess, useDesktopAccess } from './hooks/access'
import { socketIoTransport, type Transport } from './hooks/transport'
import { useHub } from './hooks/use-hub'
import { I18nProvider, useI18n, type Language } from './i18n'
import type { HubAction } from './state/hub-state'

export interface AppProps {
  /** How to reach the hub; tests pass a fake socket. */
  transport?: Transport
  /** The desktop bridge; absent in a browser. */
  desktop?: DesktopApi
  language?: Language
}

export function App({ transport = socketIoTransport, desktop = window.hub, language }: AppProps) {
  return (
    <I18nProvider initial={language}>
      {desktop ? (
        <DesktopShell desktop={desktop} transport={transport} />
      ) : (
        <BrowserShell transport={transport} />
      )}
    </I18nProvider>
  )
}

function BrowserShell({ transport }: { transport: Transport }) {
  const access = useBrowserAccess()
  return (
    <Hub url={access.url} token={access.token} transport={transport} onToken={access.setToken} />
  )
}

function DesktopShell({ desktop, transport }: { desktop: DesktopApi; transport: Transport }) {
  const access = useDesktopAccess(desktop)
  return (
    <Hub url={access.url} token={access.token} transport={transport} desktop={desktop}>
      <DataKeyNotice desktop={desktop} />
      <ServerControls desktop={desktop} status={access.server} />
      <SettingsForm desktop={desktop} />
    </Hub>
  )
}

const toAppEntry = (entry: LogEntry): Extract<HubAction, { type: 'log' }>['entry'] => ({
  time: entry.time,
  level: entry.level,
  message: entry.message,
  source: 'app',
  ...(typeof entry.fields?.session_id === 'string' ? { sessionId: entry.fields.session_id } : {}),
})

function Hub({
  url,
  token,
  transport,
  desktop,
  onToken,
  children,
}: {
  url: string | null
  token: string | null
  transport: Transport
  desktop?: DesktopApi
  onToken?(token: string): void
  children?: React.ReactNode
}) {
  const { t, language, setLanguage } = useI18n()
  const hub = useHub({ url, token, transport })
  const { state, dispatch } = hub
  const connected = state.connection.kind === 'connected'

  // In the desktop window the activity log also shows the app's own log lines.
  useEffect(() => {
    if (!desktop) return
    let live = true
    void desktop.logs.recent(200).then((entries) => {
      if (live) for (const entry of entries) dispatch({ type: 'log', entry: toAppEntry(entry) })
    })
    const unsubscribe = desktop.logs.onEntry((entry) =>
      dispatch({ type: 'log', entry: toAppEntry(entry) }),
    )
    return () => {
      live = false
      unsubscribe()
    }
  }, [desktop, dispatch])

  // A notification or the tray's menu asked main to show an account.
  useEffect(
    () => desktop?.sessions.onSelect((sessionId) => dispatch({ type: 'select', sessionId })),
    [desktop, dispatch],
  )

  const selected = state.selected ? state.sessions[state.selected] : undefined
  const needsToken =
    !desktop && (state.connection.kind === 'no_token' || state.connection.kind === 'unauthorized')

  return (
    <div className="app">
      <header className="top">
        <h1>{t('appTitle')}</h1>
        <ConnectionBadge connection={state.connection} />
        <label className="language">
          <span className="visually-hidden">{t('language')}</span>
          <select
            value={language}
            onChange={(event) => setLanguage(event.target.value as Language)}
            aria-label={t('language')}
          >
            <option value="en">English</option>
            <option value="es">Español</option>
          </select>
        </label>
      </header>

      {state.provider === 'simulated' && (
        <p className="banner" data-testid="simulation-banner">
          {t('simulation.banner')}
        </p>
      )}
      {children}

      {needsToken && onToken ? (
        <TokenForm rejected={state.connection.kind === 'unauthorized'} onSubmit={onToken} />
      ) : (
        <main className="grid">
          <SessionList
            sessions={state.sessions}
            order={state.order}
            selected={state.selected}
            disabled={!connected}
            onSelect={(sessionId) => dispatch({ type: 'select', sessionId })}
            onLinkNew={() => hub.linkNew()}
          />
          <SessionPanel
            session={selected}
            provider={state.provider}
            connected={connected}
            onRequestCode={hub.requestCode}
            onLinkByPhone={hub.linkNew}
            onDisconnect={hub.disconnect}
            onSimulateScan={hub.simulateScan}
            onLoadTimeline={hub.loadTimeline}
          />
        </main>
      )}

      {state.lastError && (
        <p className="alert toast" role="alert">
          {state.lastError.message}
          <button type="button" onClick={() => dispatch({ type: 'dismiss_error' })}>
            {t('error.dismiss')}
          </button>
        </p>
      )}

      <ActivityLog
        entries={state.log}
        sessionIds={state.order}
        onClear={() => dispatch({ type: 'clear_log' })}
      />
    </div>
  )
}
