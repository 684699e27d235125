import { useState, type FormEvent } from 'react'
import { DISCONNECT_MESSAGES, type ProviderName, type StatusEvent } from '../../../server/protocol'
import type { ActionResult } from '../hooks/use-hub'
import { useI18n } from '../i18n'
import type { SessionView } from '../state/hub-state'
import { ConnectionHistory } from './ConnectionHistory'
import { CountdownRing, useNow } from './CountdownRing'
import { HealthChip, isDegraded } from './HealthChip'
import { phoneOf } from './SessionList'
import { StateChip } from './StateChip'

interface Props {
  session?: SessionView
  provider?: ProviderName
  connected: boolean
  onRequestCode(sessionId: string, phoneNumber?: string): Promise<ActionResult>
  onLinkByPhone(phoneNumber: string): Promise<ActionResult>
  onDisconnect(sessionId: string): Promise<ActionResult>
  onSimulateScan(sessionId: string, qrData: string): Promise<ActionResult>
  onLoadTimeline(sessionId: string): void
}

/** `ABCD1234` → `ABCD-1234`, as WhatsApp shows pairing codes. */
export function groupCode(code: string): string {
  return code.match(/.{1,4}/g)?.join('-') ?? code
}

/**
 * What the hub said about an ended link beyond the reason's usual sentence (which the UI already
 * says in the reader's language): WhatsApp's own words, or that the stored data cannot be read.
 */
export function endedDetail(status: StatusEvent): string | undefined {
  if (status.status !== 'disconnected' || !status.message) return undefined
  return status.reason && status.message === DISCONNECT_MESSAGES[status.reason]
    ? undefined
    : status.message
}

export function SessionPanel(props: Props) {
  const { t } = useI18n()
  const { session } = props
  return (
    <section className="card panel" aria-labelledby="panel-title" aria-live="polite">
      <h2 id="panel-title" className="visually-hidden">
        {t('panel.title')}
      </h2>
      {session ? (
        // Keyed: a problem shown or a history opened for one account is not carried to the next.
        <SessionDetail key={session.id} {...props} session={session} />
      ) : (
        <p className="muted">{t('panel.none')}</p>
      )}
      <PhoneForm
        disabled={!props.connected}
        onSubmit={(phone) =>
          session && session.status.status !== 'authenticated'
            ? props.onRequestCode(session.id, phone)
            : props.onLinkByPhone(phone)
        }
      />
    </section>
  )
}

function SessionDetail({
  session,
  provider,
  connected,
  onRequestCode,
  onDisconnect,
  onSimulateScan,
  onLoadTimeline,
}: Props & { session: SessionView }) {
  const { t } = useI18n()
  const now = useNow(500)
  const [problem, setProblem] = useState<string | null>(null)
  const { status, qr, pairing } = session
  const detail = endedDetail(status)

  const act = async (run: () => Promise<ActionResult>) => {
    setProblem(null)
    const result = await run()
    if (!result.ok) setProblem(result.error.message)
  }

  return (
    <div className="detail" data-testid="session-detail" data-status={status.status}>
      <div className="detail-head">
        <code className="session-id">{session.id}</code>
        <StateChip status={status} />
        <HealthChip status={status} />
      </div>

      {status.status === 'pending' && <p className="muted">{t('qr.waiting')}</p>}

      {status.status === 'qr_ready' && qr && (
        <div className="qr">
          <img
            src={qr.qr_image}
            alt={t('qr.alt')}
            width={320}
            height={320}
            data-testid="qr-image"
            data-qr={qr.qr_data}
          />
          <div className="qr-side">
            <p>{t('qr.instructions')}</p>
            <p className="qr-counter">
              {t('qr.counter', { attempt: qr.attempt, max: qr.attempts_max })}
            </p>
            <CountdownRing issuedAt={qr.issued_at} expiresAt={qr.expires_at} />
            {Date.parse(qr.expires_at) <= now && <p className="muted">{t('qr.expired')}</p>}
            {provider === 'simulated' && (
              <button
                type="button"
                onClick={() =>
                  act(async () => {
                    const result = await onSimulateScan(session.id, qr.qr_data)
                    return result.ok
                      ? result
                      : {
                          ok: false,
                          error: {
                            ...result.error,
                            message: t('qr.scanFailed', { reason: result.error.message }),
                          },
                        }
                  })
                }
              >
                {t('qr.simulateScan')}
              </button>
            )}
          </div>
        </div>
      )}

      {status.status === 'qr_ready' && pairing && (
        <div className="pairing">
          <p>{t('pairing.instructions')}</p>
          <p
            className="pairing-code"
            data-testid="pairing-code"
            aria-label={pairing.code.split('').join(' ')}
          >
            {groupCode(pairing.code)}
          </p>
          <CountdownRing
            issuedAt={session.pairingReceivedAt ?? pairing.expires_at}
            expiresAt={pairing.expires_at}
          />
          {provider === 'simulated' && (
            <button
              type="button"
              onClick={() => act(() => onSimulateScan(session.id, pairing.code))}
            >
              {t('qr.simulateScan')}
            </button>
          )}
        </div>
      )}

      {status.status === 'authenticated' && status.user && (
        <div className="linked">
          <p className="linked-name">{t('linked.as', { name: status.user.name })}</p>
          <p className="muted">{t('linked.number', { number: phoneOf(status.user.id) })}</p>
          {isDegraded(status) && (
            <div className="health-note" data-testid="health-note">
              {status.health_reason && <p>{status.health_reason}</p>}
              <p className="muted">{t('health.help')}</p>
            </div>
          )}
          <DisconnectButton
            disabled={!connected}
            onConfirm={() => act(() => onDisconnect(session.id))}
          />
        </div>
      )}

      {status.status === 'disconnected' && (
        <div className="ended">
          <p>
            {t('disconnected.title', {
              reason: status.reason ? t(`reason.${status.reason}`) : '—',
            })}
          </p>
          {detail && <p data-testid="ended-detail">{detail}</p>}
          <button
            type="button"
            disabled={!connected}
            onClick={() => act(() => onRequestCode(session.id))}
          >
            {t('qr.getNew')}
          </button>
        </div>
      )}

      {/* A failed session may still hold data (one the data key cannot open): this deletes it. */}
      {(status.status === 'pending' ||
        status.status === 'qr_ready' ||
        (status.status === 'disconnected' && status.reason === 'failed')) && (
        <DisconnectButton
          disabled={!connected}
          onConfirm={() => act(() => onDisconnect(session.id))}
        />
      )}

      {(status.status === 'authenticated' || status.status === 'disconnected') && (
        <ConnectionHistory session={session} onLoad={onLoadTimeline} />
      )}

      {problem && (
        <p className="alert" role="alert">
          {problem}
        </p>
      )}
    </div>
  )
}

function DisconnectButton({ disabled, onConfirm }: { disabled: boolean; onConfirm(): void }) {
  const { t } = useI18n()
  const [asking, setAsking] = useState(false)
  if (!asking) {
    return (
      <button type="button" className="danger" disabled={disabled} onClick={() => setAsking(true)}>
        {t('disconnect.button')}
      </button>
    )
  }
  return (
    <div className="confirm" role="alertdialog" aria-label={t('disconnect.confirm')}>
      <p>{t('disconnect.confirm')}</p>
      <button
        type="button"
        className="danger"
        autoFocus
        onClick={() => {
          setAsking(false)
          onConfirm()
        }}
      >
        {t('disconnect.yes')}
      </button>
      <button type="button" onClick={() => setAsking(false)}>
        {t('disconnect.no')}
      </button>
    </div>
  )
}

function PhoneForm({
  disabled,
  onSubmit,
}: {
  disabled: boolean
  onSubmit(phone: string): Promise<ActionResult>
}) {
  const { t } = useI18n()
  const [phone, setPhone] = useState('')
  const [problem, setProblem] = useState<string | null>(null)
  const submit = async (event: FormEvent) => {
    event.preventDefault()
    const digits = phone.replace(/[\s()-]/g, '')
    if (!/^\+?[1-9]\d{6,14}$/.test(digits)) {
      setProblem(t('pairing.invalid'))
      return
    }
    setProblem(null)
    const result = await onSubmit(digits)
    if (!result.ok) setProblem(result.error.message)
  }
  return (
    <form className="phone-form" onSubmit={submit}>
      <h3>{t('pairing.title')}</h3>
      <label>
        {t('pairing.label')}
        <input
          type="tel"
          inputMode="tel"
          placeholder="+34 600 000 000"
          value={phone}
          onChange={(event) => setPhone(event.target.value)}
        />
      </label>
      <button type="submit" disabled={disabled}>
        {t('pairing.submit')}
      </button>
      {problem && (
        <p className="alert" role="alert">
          {problem}
        </p>
      )}
    </form>
  )
}
