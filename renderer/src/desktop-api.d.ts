import type { DesktopApi } from '../../preload/api'

declare global {
  interface Window {
    /** Present in the desktop window only (exposed by the preload); undefined in a browser. */
    hub?: DesktopApi
  }
}
