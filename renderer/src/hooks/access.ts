import { useEffect, useState } from 'react'
import type { DesktopApi, ServerStatus } from '../../../preload/api'

const TOKEN_KEY = 'wa-link-hub-token'

export interface Access {
  /** The hub's address, `http://host:port/`. */
  url: string | null
  token: string | null
}

/**
 * In a browser the token comes from `?token=` once (then it leaves the address bar, so it is not
 * bookmarked or shared by accident, and stays for this tab only) or from the token form.
 */
export function useBrowserAccess(): Access & { setToken(token: string): void } {
  const [token, setTokenState] = useState<string | null>(
    () => takeTokenFromAddress() ?? readStoredToken(),
  )
  const setToken = (next: string) => {
    try {
      sessionStorage.setItem(TOKEN_KEY, next)
    } catch {
      // kept in memory only
    }
    setTokenState(next)
  }
  return { url: window.location.origin, token, setToken }
}

function takeTokenFromAddress(): string | null {
  const address = new URL(window.location.href)
  const token = address.searchParams.get('token')
  if (!token) return null
  address.searchParams.delete('token')
  window.history.replaceState(
    window.history.state,
    '',
    address.pathname + address.search + address.hash,
  )
  try {
    sessionStorage.setItem(TOKEN_KEY, token)
  } catch {
    // kept in memory only
  }
  return token
}

function readStoredToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY)
  } catch {
    return null
  }
}

/** In the desktop window the app hands over the address and token of its own server. */
export function useDesktopAccess(desktop: DesktopApi): Access & { server: ServerStatus | null } {
  const [server, setServer] = useState<ServerStatus | null>(null)
  const [access, setAccess] = useState<Access>({ url: null, token: null })

  useEffect(() => {
    let live = true
    const refresh = async (status: ServerStatus) => {
      if (!live) return
      setServer(status)
      if (status.state !== 'running') return
      const info = await desktop.server.connectionInfo()
      if (live && info) {
        setAccess((current) =>
          current.url === info.url && current.token === info.token
            ? current
            : { url: info.url, token: info.token },
        )
      }
    }
    const unsubscribe = desktop.server.onStatus((status) => void refresh(status))
    void desktop.server.status().then(refresh)
    return () => {
      live = false
      unsubscribe()
    }
  }, [desktop])

  return { ...access, server }
}
