import type { proto, WAMessage } from '@whiskeysockets/baileys'
import { describe, expect, it } from 'vitest'
import {
  type AddressBook,
  completeAddresses,
  isIncoming,
  type SenderAddresses,
  toIncoming,
} from '../../server/providers/baileys-messages'
import { textMessage } from '../helpers/fake-baileys'

const PN = '34600111333@s.whatsapp.net'
const LID = '1234567@lid'

/** A message from `from` with the given content, as Baileys hands it over. */
function received(from: string, content: proto.IMessage): WAMessage {
  return { ...textMessage(from, ''), message: content }
}

/** An address book that knows one person (PN <-> LID) and records every question. */
function addressBook() {
  const asked: string[] = []
  const book: AddressBook = {
    async pnForLid(lid) {
      asked.push(`pnForLid ${lid}`)
      return lid === LID ? PN : undefined
    },
    async lidForPn(pn) {
      asked.push(`lidForPn ${pn}`)
      return pn === PN ? LID : undefined
    },
  }
  return { book, asked }
}

describe('which messages the hub reports', () => {
  it('reports a message from someone else, but not our own, a status update, or an empty one', () => {
    expect(isIncoming(textMessage(PN, 'hola'))).toBe(true)
    const own = textMessage(PN, 'mine', { fromMe: true })
    const status = textMessage('status@broadcast', 'my story', { participant: PN })
    const empty: WAMessage = { ...textMessage(PN, ''), message: null }
    for (const message of [own, status, empty]) {
      expect(isIncoming(message)).toBe(false)
      expect(toIncoming(message)).toBeNull()
    }
  })
})

describe('what the hub reports for a message', () => {
  it('a text: its id, sender, text and time', () => {
    expect(toIncoming(textMessage(PN, 'hola'))).toEqual({
      id: 'IN-hola',
      from: PN,
      fromPn: PN,
      text: 'hola',
      kind: 'text',
      timestamp: new Date(1_760_000_000 * 1000),
    })
  })

  it('a message whose key has no id is still reported, with an empty id', () => {
    const message = textMessage(PN, 'no id', { id: null })
    expect(toIncoming(message)?.id).toBe('')
  })

  it('from a LID chat with a device suffix: from is the bare LID when no phone number is known', () => {
    const message = textMessage('1234567:4@lid', 'hola')
    expect(toIncoming(message)).toMatchObject({ from: LID, fromLid: LID })
    expect(toIncoming(message, {})?.from).toBe(LID)
  })

  it('from a channel: from is the channel, and it is given as neither phone number nor LID', () => {
    const incoming = toIncoming(textMessage('120363000000000009@newsletter', 'news'))!
    expect(incoming.from).toBe('120363000000000009@newsletter')
    expect(incoming).not.toHaveProperty('fromPn')
    expect(incoming).not.toHaveProperty('fromLid')
  })

  // The kind, and the text shown for it: the caption, file name or contact name when there is
  // one, else a placeholder.
  it.each<[string, proto.IMessage, string, string]>([
    ['an image with a caption', { imageMessage: { caption: 'la playa' } }, 'image', 'la playa'],
    ['an image', { imageMessage: {} }, 'image', '[image]'],
    ['a video with a caption', { videoMessage: { caption: 'el gol' } }, 'video', 'el gol'],
    ['a video', { videoMessage: {} }, 'video', '[video]'],
    ['a voice note', { audioMessage: { ptt: true } }, 'audio', '[audio]'],
    ['a document', { documentMessage: { fileName: 'factura.pdf' } }, 'document', 'factura.pdf'],
    ['a document without a name', { documentMessage: {} }, 'document', '[document]'],
    ['a sticker', { stickerMessage: {} }, 'sticker', '[sticker]'],
    [
      'a location',
      { locationMessage: { degreesLatitude: 40.4, degreesLongitude: -3.7 } },
      'location',
      '[location]',
    ],
    ['a contact card', { contactMessage: { displayName: 'Ana' } }, 'contact', 'Ana'],
    ['a contact card without a name', { contactMessage: {} }, 'contact', '[contact]'],
    ['a reply', { extendedTextMessage: { text: 'sí, claro' } }, 'text', 'sí, claro'],
    ['a reaction', { reactionMessage: { text: '👍' } }, 'other', '[message]'],
  ])('%s', (_, content, kind, text) => {
    expect(toIncoming(received(PN, content))).toMatchObject({ kind, text })
  })

  // Baileys hands these over still wrapped, and unwraps them only for its own processing
  // (normalizeMessageContent, messages.js:638-660; process-message.js:79).
  it.each<[string, proto.IMessage, string, string]>([
    [
      'a text in a chat with disappearing messages',
      { ephemeralMessage: { message: { extendedTextMessage: { text: 'se borrará' } } } },
      'text',
      'se borrará',
    ],
    [
      'a view-once photo',
      { viewOnceMessageV2: { message: { imageMessage: { caption: 'solo una vez' } } } },
      'image',
      'solo una vez',
    ],
    [
      'a document sent with a caption',
      { documentWithCaptionMessage: { message: { documentMessage: { fileName: 'acta.pdf' } } } },
      'document',
      'acta.pdf',
    ],
  ])('%s is reported by what it wraps', (_, content, kind, text) => {
    expect(toIncoming(received(PN, content))).toMatchObject({ kind, text })
  })

  it('a wrapper with nothing inside is not reported', () => {
    expect(toIncoming(received(PN, { ephemeralMessage: {} }))).toBeNull()
  })
})

describe("completing a sender's addresses from Baileys' LID mapping", () => {
  it('fills in the phone number for a LID, and the LID for a phone number', async () => {
    const { book } = addressBook()
    expect(await completeAddresses({ lid: LID }, book)).toEqual({ lid: LID, pn: PN })
    expect(await completeAddresses({ pn: PN }, book)).toEqual({ pn: PN, lid: LID })
  })

  it('keeps both addresses the key gave as they are, without a lookup', async () => {
    const { book, asked } = addressBook()
    const other: SenderAddresses = { pn: '34600999888@s.whatsapp.net', lid: '999000111@lid' }
    expect(await completeAddresses(other, book)).toStrictEqual(other)
    expect(asked).toEqual([])
  })

  it('looks nothing up for a sender with neither address', async () => {
    const { book, asked } = addressBook()
    expect(await completeAddresses({}, book)).toStrictEqual({})
    expect(asked).toEqual([])
  })
})
