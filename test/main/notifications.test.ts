// @vitest-environment node
import { beforeEach, describe, expect, it } from 'vitest'
import type { AccountAlert } from '../../main/account-watch'
import { createNotifier, NOTIFICATIONS_KEPT } from '../../main/notifications'
import { fake } from '../mocks/electron'

beforeEach(() => fake.reset())

function notifier(options: { enabled?: boolean } = {}) {
  const opened: string[] = []
  let enabled = options.enabled ?? true
  const created = createNotifier({
    enabled: () => enabled,
    open: (sessionId) => opened.push(sessionId),
    icon: '/app/resources/icon.png',
  })
  return { notifier: created, opened, setEnabled: (value: boolean) => (enabled = value) }
}

const shown = () => fake.shownNotifications().map(({ title, body }) => ({ title, body }))

describe('account notifications', () => {
  it('shows one notification per alert, with words a person understands', () => {
    const { notifier: n } = notifier()
    const alerts: AccountAlert[] = [
      { kind: 'linked', session_id: 'desk', name: 'Ada' },
      { kind: 'logged_out_remote', session_id: 'desk', name: 'Ada' },
      { kind: 'replaced', session_id: 'shop' },
      {
        kind: 'degraded',
        session_id: 'till',
        name: 'Till',
        reason: 'WhatsApp has not answered for 90 s',
      },
      { kind: 'failed', session_id: 'new' },
    ]
    for (const alert of alerts) n.notify(alert)
    expect(shown()).toEqual([
      { title: 'Account linked', body: 'Ada (desk) is linked to WhatsApp.' },
      {
        title: 'Account logged out',
        body: 'Ada (desk) was logged out from the phone (Linked devices). Link it again with a new QR code.',
      },
      {
        title: 'Account replaced',
        body: 'Another connection took over shop; the hub stopped using it. Link it again to use it here.',
      },
      {
        title: 'Account degraded',
        body: 'Till (till): WhatsApp has not answered for 90 s. The hub reconnects it if it stays silent.',
      },
      {
        title: 'Account failed',
        body: 'new could not be linked or kept linked. Link it again with a new QR code.',
      },
    ])
    expect(fake.notifications.map((notification) => notification.shows)).toEqual([1, 1, 1, 1, 1])
    // the app icon; a new link is what the person just did, so it makes no sound
    expect(fake.notifications.every((item) => item.icon === '/app/resources/icon.png')).toBe(true)
    expect(fake.notifications.map((item) => item.silent)).toEqual([
      true,
      false,
      false,
      false,
      false,
    ])
  })

  it('shows nothing while the setting is off, and again once it is on', () => {
    const { notifier: n, setEnabled } = notifier({ enabled: false })
    n.notify({ kind: 'failed', session_id: 'a' })
    expect(fake.notifications).toHaveLength(0)
    setEnabled(true)
    n.notify({ kind: 'failed', session_id: 'a' })
    expect(shown()).toHaveLength(1)
  })

  it('shows nothing where the system has no notifications', () => {
    fake.notificationsSupported = false
    const { notifier: n } = notifier()
    n.notify({ kind: 'linked', session_id: 'a' })
    expect(fake.notifications).toHaveLength(0)
  })

  it('opens the account it is about when clicked', () => {
    const { notifier: n, opened } = notifier()
    n.notify({ kind: 'linked', session_id: 'desk' })
    n.notify({ kind: 'replaced', session_id: 'shop' })
    fake.notifications[1]!._click()
    expect(opened).toEqual(['shop'])
    expect(shown().map((item) => item.title)).toEqual(['Account linked'])
  })

  it(`keeps the last ${NOTIFICATIONS_KEPT} notifications referenced until clicked, so their clicks arrive`, () => {
    const { notifier: n, opened } = notifier()
    for (let i = 0; i < NOTIFICATIONS_KEPT + 5; i++)
      n.notify({ kind: 'failed', session_id: `s${i}` })
    expect(n.kept).toBe(NOTIFICATIONS_KEPT)
    // still kept after the system closed it (Windows: moved to the Action Center)
    const last = fake.notifications.at(-1)!
    last._dismiss()
    expect(n.kept).toBe(NOTIFICATIONS_KEPT)
    fake.notifications.at(-2)!._click()
    expect(n.kept).toBe(NOTIFICATIONS_KEPT - 1)
    expect(opened).toEqual([`s${NOTIFICATIONS_KEPT + 3}`])
  })
})
