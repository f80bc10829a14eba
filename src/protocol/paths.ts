/**
 * A namespace path as the server names it: dot segments resolved, percent escapes decoded as
 * Hono's router decodes them. A multiplexed socket tags every frame of a subscription with exactly
 * this string, so the client subscribes with it whatever spelling the app gave (an
 * `encodeURIComponent`'d room name included). Browser-safe.
 */
export function namespacePath(path: string): string {
  const pathname = new URL(path, 'http://localhost').pathname;
  try {
    return decodeURI(pathname);
  } catch {
    // A malformed escape stays as it is; the router does the same.
    return pathname;
  }
}
