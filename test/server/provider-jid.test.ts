import { describe, expect, it } from 'vitest'
import { ProviderError, toJid } from '../../server/providers/provider'

describe('recipients normalized to WhatsApp JIDs', () => {
  it('turns a phone number, with or without +, into a user JID', () => {
    expect(toJid('34600000001')).toBe('34600000001@s.whatsapp.net')
    expect(toJid('+34600000001')).toBe('34600000001@s.whatsapp.net')
  })

  it('turns the legacy c.us form into the user JID', () => {
    expect(toJid('34600000001@c.us')).toBe('34600000001@s.whatsapp.net')
  })

  it('drops the device part of a JID, so a message goes to the account, not one device', () => {
    expect(toJid('34600000001:12@s.whatsapp.net')).toBe('34600000001@s.whatsapp.net')
    expect(toJid('34600000001:3@c.us')).toBe('34600000001@s.whatsapp.net')
  })

  it('leaves group and LID recipients on their own server', () => {
    expect(toJid('120363025246125486@g.us')).toBe('120363025246125486@g.us')
    expect(toJid('187743636676218@lid')).toBe('187743636676218@lid')
    expect(toJid('187743636676218:5@lid')).toBe('187743636676218@lid')
  })
})

describe('ProviderError', () => {
  it('names itself in logs and carries its code (provider_error unless said otherwise)', () => {
    const error = new ProviderError('WhatsApp refused')
    expect(error).toBeInstanceOf(Error)
    expect(error.name).toBe('ProviderError')
    expect(String(error)).toBe('ProviderError: WhatsApp refused')
    expect(error.code).toBe('provider_error')
    expect(new ProviderError('gone', 'not_authenticated').code).toBe('not_authenticated')
  })
})
