/**
 * Cross-site WebSocket hijacking defence: a browser sends the session cookie with a WebSocket
 * upgrade from any site, and the same-origin policy does not apply to WebSockets, so the server
 * checks `Origin` itself.
 */

/**
 * Whether an upgrade may proceed. Allowed: no `Origin` (not a browser, so no ambient cookie
 * to abuse), an origin whose host is the request's own host, or one listed in `allowed`
 * (exact `scheme://host[:port]`, or `*` for any).
 */
export function originAllowed(origin: string | undefined, host: string | undefined, allowed: readonly string[]): boolean {
  if (origin === undefined) return true;
  if (allowed.includes('*') || allowed.includes(origin)) return true;
  if (!host) return false;
  try {
    // `null` (sandboxed frames, file: pages) does not parse and is refused unless listed.
    return new URL(origin).host === host.toLowerCase();
  } catch {
    return false;
  }
}
