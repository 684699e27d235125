import {
  isJidGroup,
  isLidUser,
  isPnUser,
  jidNormalizedUser,
  normalizeMessageContent,
  toNumber,
  type WAMessage,
  type WAMessageKey,
} from '@whiskeysockets/baileys'
import type { MessageKind } from '../protocol'
import type { IncomingMessage } from './provider'

/** A sender's two addresses: its phone-number JID and its LID, each when known. */
export interface SenderAddresses {
  pn?: string
  lid?: string
}

/** Baileys' LID mapping, read locally (never a network query). */
export interface AddressBook {
  pnForLid(lid: string): Promise<string | undefined>
  lidForPn(pn: string): Promise<string | undefined>
}

/** True for a message the hub reports: from someone else, with content, not a status. */
export function isIncoming(message: WAMessage): boolean {
  const { key } = message
  return Boolean(
    !key.fromMe && key.remoteJid && key.remoteJid !== 'status@broadcast' && message.message,
  )
}

/**
 * What the key says about the sender. In a chat the sender is the chat (`remoteJid`, with its
 * other form in `remoteJidAlt`); in a group it is `participant` (`participantAlt`). The Alt forms
 * come from the stanza's `*_pn`/`*_lid` attributes and carry no device (decode-wa-message.js:69-95,
 * :178-191).
 */
export function addressesInKey(key: WAMessageKey): SenderAddresses {
  const group = isJidGroup(key.remoteJid ?? undefined)
  const found: SenderAddresses = {}
  for (const jid of group
    ? [key.participant, key.participantAlt]
    : [key.remoteJid, key.remoteJidAlt]) {
    if (!jid) continue
    if (isPnUser(jid)) found.pn ??= jidNormalizedUser(jid)
    else if (isLidUser(jid)) found.lid ??= jidNormalizedUser(jid)
  }
  return found
}

/** Fills in the form the key lacks from the LID mapping, when Baileys has learnt it. */
export async function completeAddresses(
  known: SenderAddresses,
  book: AddressBook,
): Promise<SenderAddresses> {
  if (known.lid && !known.pn) return { ...known, pn: await book.pnForLid(known.lid) }
  if (known.pn && !known.lid) return { ...known, lid: await book.lidForPn(known.pn) }
  return known
}

/** A received message as the hub reports it; null for what is not a message from someone else. */
export function toIncoming(
  message: WAMessage,
  sender: SenderAddresses = addressesInKey(message.key),
): IncomingMessage | null {
  if (!isIncoming(message)) return null
  // Disappearing, view-once and captioned-document messages come wrapped (messages.js:638-660).
  const content = normalizeMessageContent(message.message)
  if (!content) return null
  const { key } = message
  const chat = key.remoteJid!
  // Newer chats address people by LID; the phone form, when known, is more useful.
  const from = isJidGroup(chat) ? chat : (sender.pn ?? (jidNormalizedUser(chat) || chat))
  const [kind, text] = describeContent(content)
  return {
    id: key.id ?? '',
    from,
    ...(sender.pn ? { fromPn: sender.pn } : {}),
    ...(sender.lid ? { fromLid: sender.lid } : {}),
    text,
    kind,
    timestamp: new Date(toNumber(message.messageTimestamp) * 1000 || Date.now()),
  }
}

function describeContent(content: NonNullable<WAMessage['message']>): [MessageKind, string] {
  if (content.conversation) return ['text', content.conversation]
  if (content.extendedTextMessage?.text) return ['text', content.extendedTextMessage.text]
  if (content.imageMessage) return ['image', content.imageMessage.caption || '[image]']
  if (content.videoMessage) return ['video', content.videoMessage.caption || '[video]']
  if (content.audioMessage) return ['audio', '[audio]']
  if (content.documentMessage) return ['document', content.documentMessage.fileName || '[document]']
  if (content.stickerMessage) return ['sticker', '[sticker]']
  if (content.locationMessage) return ['location', '[location]']
  if (content.contactMessage) return ['contact', content.contactMessage.displayName || '[contact]']
  return ['other', '[message]']
}
