/**
 * Cross-site request checks: a browser sends the session cookie with a WebSocket upgrade from any
 * site, and the same-origin policy does not apply to WebSockets, so the server checks `Origin`
 * itself; state-changing REST requests are checked the same way (`rest-guard.ts`).
 */
import type { Context } from 'hono';
import type { AppEnv } from '../types.ts';

/**
 * Whether a request may proceed. Allowed: no `Origin` (not a browser, so no ambient cookie
 * to abuse), the request's own origin (`own`: scheme, host and port, so `https://host` is not
 * the origin of an http server on the same host), or one listed in `allowed` (exact
 * `scheme://host[:port]`, or `*` for any).
 */
export function originAllowed(origin: string | undefined, own: string | undefined, allowed: readonly string[]): boolean {
  if (origin === undefined) return true;
  if (allowed.includes('*') || allowed.includes(origin)) return true;
  if (!own) return false;
  try {
    // `null` (sandboxed frames, file: pages) does not parse and is refused unless listed.
    return new URL(origin).origin === new URL(own).origin;
  } catch {
    return false;
  }
}

/**
 * The origin the client addressed: its scheme (TLS on the socket, or `X-Forwarded-Proto` from a
 * trusted proxy) and its host (`Host`, or `X-Forwarded-Host` from a trusted proxy).
 */
export function requestOrigin(c: Context<AppEnv>, trustProxy: number): string | undefined {
  const proxied = trustProxy > 0;
  const host = (proxied && c.req.header('x-forwarded-host')?.split(',')[0]?.trim()) || c.req.header('host');
  if (!host) return undefined;
  const forwarded = proxied ? c.req.header('x-forwarded-proto')?.split(',')[0]?.trim().toLowerCase() : undefined;
  const encrypted = (c.env?.incoming?.socket as { encrypted?: boolean } | undefined)?.encrypted === true;
  const scheme = forwarded === 'https' || forwarded === 'http' ? forwarded : encrypted ? 'https' : 'http';
  return `${scheme}://${host}`;
}
