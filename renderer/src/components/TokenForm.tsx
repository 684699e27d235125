import { useState, type FormEvent } from 'react'
import { useI18n } from '../i18n'

export function TokenForm({
  rejected,
  onSubmit,
}: {
  rejected: boolean
  onSubmit(token: string): void
}) {
  const { t } = useI18n()
  const [value, setValue] = useState('')
  const submit = (event: FormEvent) => {
    event.preventDefault()
    if (value.trim()) onSubmit(value.trim())
  }
  return (
    <form className="card token-form" onSubmit={submit} aria-labelledby="token-title">
      <h2 id="token-title">{t('token.title')}</h2>
      {rejected ? (
        <p className="alert" role="alert">
          {t('token.rejected')}
        </p>
      ) : (
        <p>{t('token.help')}</p>
      )}
      <label>
        {t('token.label')}
        <input
          type="password"
          autoComplete="off"
          spellCheck={false}
          value={value}
          onChange={(event) => setValue(event.target.value)}
        />
      </label>
      <button type="submit">{t('token.submit')}</button>
    </form>
  )
}
