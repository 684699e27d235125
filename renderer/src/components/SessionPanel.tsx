import { useState, type FormEvent } from 'react'
import type { ProviderName } from '../../../server/protocol'
import type { ActionResult } from '../hooks/use-hub'
import { useI18n } from '../i18n'
import type { SessionView } from '../state/hub-state'
import { CountdownRing, useNow } from './CountdownRing'
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
}

/** `ABCD1234` → `ABCD-1234`, as WhatsApp shows pairing codes. */
export function groupCode(code: string): string {
  return code.match(/.{1,4}/g)?.join('-') ?? code
}

export function SessionPanel(props: Props) {
  const { t } = useI18n()
  const { session } = props
  return (
    <section className="card panel" aria-labelledby="panel-title" aria-live="polite">
      <h2 id="panel-title" className="visually-hidden">
        {t('sessions.title')}
      </h2>
      {session ? (
        <SessionDetail {...props} session={session} />
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
}: Props & { session: SessionView }) {
  const { t } = useI18n()
  const now = useNow(500)
  const [problem, setProblem] = useState<string | null>(null)
  const { status, qr, pairing } = session

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
          <button
            type="button"
            disabled={!connected}
            onClick={() => act(() => onRequestCode(session.id))}
          >
            {t('qr.getNew')}
          </button>
        </div>
      )}

      {(status.status === 'pending' || status.status === 'qr_ready') && (
        <DisconnectButton
          disabled={!connected}
          onConfirm={() => act(() => onDisconnect(session.id))}
        />
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
