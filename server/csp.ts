/**
 * The web UI's Content Security Policy, one for every way the page is served: by the hub to
 * browsers, and by the desktop app to its window. Scripts and styles come only from the app,
 * images also as data: URLs (QR codes), and the page may connect only to its own origin and the
 * hub sources given.
 */
export function contentSecurityPolicy(connectSources: readonly string[]): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    ["connect-src 'self'", ...connectSources].join(' '),
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ')
}
