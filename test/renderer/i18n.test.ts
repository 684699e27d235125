import { describe, expect, it } from 'vitest'
import { en } from '../../renderer/src/i18n/en'
import { es } from '../../renderer/src/i18n/es'

const placeholders = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort()

describe('translations', () => {
  it('Spanish has every English message, none empty, with the same placeholders', () => {
    expect(Object.keys(es).sort()).toEqual(Object.keys(en).sort())
    for (const [key, text] of Object.entries(en)) {
      const spanish = es[key as keyof typeof en]
      expect(spanish.trim(), key).not.toBe('')
      expect(placeholders(spanish), key).toEqual(placeholders(text))
    }
  })
})
