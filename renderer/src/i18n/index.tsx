import {
  createContext,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useState,
  type ReactNode,
} from 'react'
import { en, type MessageKey } from './en'
import { es } from './es'

export type Language = 'en' | 'es'
const dictionaries: Record<Language, Record<MessageKey, string>> = { en, es }
const STORAGE_KEY = 'wa-link-hub-language'

export type Translate = (key: MessageKey, params?: Record<string, string | number>) => string

interface I18n {
  language: Language
  setLanguage(language: Language): void
  t: Translate
}

const I18nContext = createContext<I18n | undefined>(undefined)

/** The saved choice, else the browser's (or system's, in Electron) language, else English. */
export function detectLanguage(): Language {
  try {
    const saved = localStorage.getItem(STORAGE_KEY)
    if (saved === 'en' || saved === 'es') return saved
  } catch {
    // storage can be unavailable (privacy modes): fall through
  }
  const preferred = navigator.languages?.length ? navigator.languages : [navigator.language]
  for (const tag of preferred) {
    const base = tag?.toLowerCase().split('-')[0]
    if (base === 'es' || base === 'en') return base
  }
  return 'en'
}

export function I18nProvider({ children, initial }: { children: ReactNode; initial?: Language }) {
  const [language, setLanguageState] = useState<Language>(() => initial ?? detectLanguage())
  const setLanguage = useCallback((next: Language) => {
    setLanguageState(next)
    try {
      localStorage.setItem(STORAGE_KEY, next)
    } catch {
      // not saved; still switched
    }
  }, [])
  const t = useCallback<Translate>(
    (key, params) =>
      dictionaries[language][key].replace(/\{(\w+)\}/g, (_, name: string) =>
        String(params?.[name] ?? `{${name}}`),
      ),
    [language],
  )
  const value = useMemo(() => ({ language, setLanguage, t }), [language, setLanguage, t])
  useEffect(() => {
    document.documentElement.lang = language
  }, [language])
  return <I18nContext.Provider value={value}>{children}</I18nContext.Provider>
}

export function useI18n(): I18n {
  const context = useContext(I18nContext)
  if (!context) throw new Error('useI18n outside I18nProvider')
  return context
}
