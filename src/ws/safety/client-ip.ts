/**
 * The client address of a request. X-Forwarded-For is a header anyone can send, so it is read
 * only as far as the configured number of trusted proxies vouches for it.
 */
import type { IncomingMessage } from 'node:http';

/**
 * With `trustProxy` = N, the address chain is `X-Forwarded-For` followed by the peer address; the
 * last N entries were appended by our own proxies, so the client is the one before them. Entries
 * further left were written by the client itself and are never trusted.
 */
export function clientIp(incoming: IncomingMessage | undefined, trustProxy: number): string {
  const peer = incoming?.socket?.remoteAddress ?? '';
  if (trustProxy <= 0 || !incoming) return peer;
  const header = incoming.headers['x-forwarded-for'];
  const forwarded = (Array.isArray(header) ? header.join(',') : header ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const chain = [...forwarded, peer];
  return chain[Math.max(0, chain.length - 1 - trustProxy)] ?? peer;
}
