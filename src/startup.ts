/**
 * What `npm start` tells the person who ran it: where the server listens, how it runs (in memory
 * or on Redis) and where the pages are; or, when it cannot listen, one line saying what to change.
 */
import type { AddressInfo } from 'node:net';
import type { Config } from './config.ts';

/** Where the server listens, as `server.address()` reports it, with the HOST it was given. */
export interface Listening {
  address: AddressInfo;
  host: string | undefined;
}

/** A log line: its fields and its message. */
export type Line = [fields: Record<string, unknown>, message: string];

/** What the mode line is told of the configuration. */
type ModeConfig = Pick<Config, 'redisUrl' | 'redisPrefix'> & Partial<Pick<Config, 'redisClusterNodes'>>;

/** The lines logged once the server listens: the address, the mode, the pages. */
export function startupLines(config: ModeConfig, { address, host }: Listening): Line[] {
  const wildcard = address.address === '::' || address.address === '0.0.0.0';
  // A wildcard address is reachable as localhost; a named HOST is what the user typed, so keep it.
  const origin = `http://${wildcard ? 'localhost' : urlHost(host ?? address.address)}:${address.port}`;
  const where = wildcard ? `every ${address.address === '::' ? '' : 'IPv4 '}interface` : urlHost(address.address);
  return [
    [{ port: address.port }, `listening on ${where}, port ${address.port}: ${origin}`],
    modeLine(config),
    [{}, `pages: Dynamic Rooms ${origin}/ · Bubble Map ${origin}/bubblemap.html`],
  ];
}

function modeLine({ redisUrl, redisPrefix, redisClusterNodes }: ModeConfig): Line {
  if (redisClusterNodes) {
    const nodes = redisClusterNodes.map((n) => `${urlHost(n.host)}:${n.port}`).join(', ');
    return [{ mode: 'cluster' }, `mode: Redis Cluster from ${nodes}, key prefix "${redisPrefix}": instances with the same REDIS_CLUSTER_NODES cluster and REDIS_PREFIX serve the same namespaces`];
  }
  if (!redisUrl) return [{ mode: 'memory' }, 'mode: in memory, one instance (set REDIS_URL or REDIS_CLUSTER_NODES to run several)'];
  const url = new URL(redisUrl);
  const db = url.pathname.length > 1 ? ` db ${url.pathname.slice(1)}` : '';
  const redis = `${url.hostname}:${url.port || 6379}${db}`;
  return [{ mode: 'redis' }, `mode: Redis at ${redis}${url.protocol === 'rediss:' ? ' (TLS)' : ''}, key prefix "${redisPrefix}": instances with the same REDIS_URL and REDIS_PREFIX serve the same namespaces`];
}

/** An IPv6 address in brackets, as a URL needs it. */
function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * One line for an error of `listen()` that the person starting the server can fix (port taken,
 * no permission, unknown HOST); undefined for anything else, which deserves its stack.
 */
export function startupFailure(err: unknown, { port, host }: { port: number; host: string | undefined }): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const on = host ? `${host} port ${port}` : `port ${port}`;
  switch (code) {
    case 'EADDRINUSE':
      return `cannot start: ${on} is already in use (another server, or this one still running?); stop it, or set PORT to a free port`;
    case 'EACCES':
      return `cannot start: no permission to listen on ${on}; set PORT to 1024 or above`;
    case 'EADDRNOTAVAIL':
      return `cannot start: HOST=${JSON.stringify(host)} is not an address of this machine; set HOST to one of its addresses (127.0.0.1 for this machine only), or leave it unset to listen on every interface`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
    case 'EAI_FAIL':
      return `cannot start: HOST=${JSON.stringify(host)} is not a host name this machine can resolve; set HOST to an address of this machine (127.0.0.1 for this machine only), or leave it unset to listen on every interface`;
    default:
      return undefined;
  }
}
