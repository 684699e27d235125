// @vitest-environment node
import { beforeEach, describe, expect, it } from 'vitest'
import { createTray, type TrayActions } from '../../main/tray'
import type { DegradedAccount, ServerStatus } from '../../preload/api'
import { fake } from '../mocks/electron'

beforeEach(() => fake.reset())

const running: ServerStatus = {
  state: 'running',
  host: '0.0.0.0',
  port: 5001,
  provider: 'simulated',
  url: 'http://localhost:5001/',
  clients: 3,
  sessions: { total: 2, pending: 0, qr_ready: 0, authenticated: 2, disconnected: 0 },
  degraded: { count: 0, accounts: [] },
}

function tray() {
  const calls: string[] = []
  const actions: TrayActions = {
    open: () => calls.push('open'),
    openAccount: (id) => calls.push(`open ${id}`),
    start: () => calls.push('start'),
    stop: () => calls.push('stop'),
    copyAccessUrl: () => calls.push('copy'),
    openLogs: () => calls.push('logs'),
    quit: () => calls.push('quit'),
  }
  const created = createTray({ iconPath: (state) => `/icons/${state}.png`, actions })
  return { created, calls, tray: fake.trays[0]! }
}

const withDegraded = (count: number, accounts: DegradedAccount[]): ServerStatus => ({
  ...running,
  degraded: { count, accounts },
})

describe('tray and degraded accounts', () => {
  it('says how many linked accounts are degraded, with its own icon', () => {
    const { created, tray: icon } = tray()
    created.update(running)
    expect(icon.tooltip).toBe('WA Link Hub — running on :5001 · 3 clients · 2 linked')
    expect(icon.image.path).toBe('/icons/linked.png')
    expect(icon.menu!.getMenuItemById('degraded')).toBeNull()

    created.update(withDegraded(1, [{ session_id: 'desk', name: 'Ada', reason: 'silent 90 s' }]))
    expect(icon.tooltip).toBe('WA Link Hub — running on :5001 · 3 clients · 2 linked (1 degraded)')
    expect(icon.image.path).toBe('/icons/degraded.png')

    created.update(running)
    expect(icon.image.path).toBe('/icons/linked.png')
  })

  it('lists degraded accounts with their reason; each opens the window on it', () => {
    const { created, calls, tray: icon } = tray()
    created.update(
      withDegraded(2, [
        { session_id: 'desk', name: 'Ada', reason: 'WhatsApp has not answered for 90 s' },
        { session_id: 'shop', reason: 'WhatsApp has not answered for 95 s' },
      ]),
    )
    const labels = icon.menu!.items.map((item) => item.label)
    expect(labels.slice(0, 6)).toEqual([
      'Open WA Link Hub',
      '',
      'Degraded accounts (2)',
      'Ada (desk) — WhatsApp has not answered for 90 s',
      'shop — WhatsApp has not answered for 95 s',
      '',
    ])
    expect(icon.menu!.getMenuItemById('degraded')!.enabled).toBe(false)
    icon._clickItem('degraded:shop')
    expect(calls).toEqual(['open shop'])
  })

  it('names the accounts the status lists and counts the rest, which open the window', () => {
    const { created, calls, tray: icon } = tray()
    const reason = 'x'.repeat(200)
    created.update(withDegraded(9, [{ session_id: 'desk', name: 'Ada', reason }]))
    expect(icon.menu!.getMenuItemById('degraded')!.label).toBe('Degraded accounts (9)')
    const desk = icon.menu!.getMenuItemById('degraded:desk')!.label
    expect(desk).toHaveLength(80)
    expect(desk.endsWith('…')).toBe(true)
    expect(icon.menu!.getMenuItemById('degraded:more')!.label).toBe('8 more…')
    icon._clickItem('degraded:more')
    expect(calls).toEqual(['open'])
  })

  it('shows no degraded state while the server is stopped or failed', () => {
    const { created, tray: icon } = tray()
    created.update({
      ...withDegraded(1, []),
      state: 'error',
      error: { code: 'x', message: 'boom' },
    })
    expect(icon.image.path).toBe('/icons/error.png')
    created.update({ ...withDegraded(1, []), state: 'stopped' })
    expect(icon.image.path).toBe('/icons/stopped.png')
  })
})
