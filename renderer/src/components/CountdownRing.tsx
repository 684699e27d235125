import { useEffect, useState } from 'react'
import { useI18n } from '../i18n'

/** Re-renders every `intervalMs` with the current time. */
export function useNow(intervalMs = 250): number {
  const [now, setNow] = useState(() => Date.now())
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs)
    return () => clearInterval(timer)
  }, [intervalMs])
  return now
}

const RADIUS = 20
const CIRCUMFERENCE = 2 * Math.PI * RADIUS

export function CountdownRing({ issuedAt, expiresAt }: { issuedAt: string; expiresAt: string }) {
  const { t } = useI18n()
  const now = useNow()
  const total = Math.max(1, Date.parse(expiresAt) - Date.parse(issuedAt))
  const left = Math.max(0, Date.parse(expiresAt) - now)
  const seconds = Math.ceil(left / 1000)
  return (
    <div className="countdown" data-testid="countdown">
      <svg viewBox="0 0 48 48" width="48" height="48" aria-hidden="true">
        <circle className="ring-track" cx="24" cy="24" r={RADIUS} />
        <circle
          className="ring-left"
          cx="24"
          cy="24"
          r={RADIUS}
          strokeDasharray={CIRCUMFERENCE}
          strokeDashoffset={CIRCUMFERENCE * (1 - left / total)}
          transform="rotate(-90 24 24)"
        />
      </svg>
      <span>{t('qr.secondsLeft', { seconds })}</span>
    </div>
  )
}
