import { render, waitFor } from '@testing-library/react'
import { expect } from 'vitest'
import { App } from '../../renderer/src/App'
import type { Language } from '../../renderer/src/i18n'
import { fakeTransport } from './fake-socket'

/** Opens the app the way a browser does with `/?token=...`, and connects. */
export async function openWithToken(token = 'secret-token-123', language: Language = 'en') {
  window.history.replaceState(null, '', `/?token=${token}`)
  const net = fakeTransport()
  render(<App transport={net.transport} language={language} />)
  const socket = net.last()
  socket.server('connect')
  socket.server('connected', {
    type: 'connected',
    client_id: 'c1',
    server_version: '0.1.0',
    provider: 'simulated',
    message: '',
  })
  await waitFor(() => expect(socket.sentEvents('list_sessions')).toHaveLength(1))
  return { net, socket }
}
