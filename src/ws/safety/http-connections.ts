/**
 * Bounds on the TCP connections of the HTTP server, whatever they carry (REST, upgrades, open
 * sockets, or nothing at all): idle or slow connections must not use up the process's file
 * descriptors and lock everyone out of `/health` and the upgrade.
 */
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Limits } from './limits.ts';

type ConnectionLimits = Pick<Limits, 'httpMaxConnections' | 'httpMaxConnectionsPerIp' | 'httpHeadersTimeoutMs' | 'trustProxy'>;

/**
 * Options for `http.createServer`: a client gets `httpHeadersTimeoutMs` to send its headers and
 * twice that for its whole request (Node's defaults, 60 s and 300 s checked every 30 s, let a
 * slowloris client hold a connection for over a minute).
 */
export function httpServerOptions(limits: Pick<Limits, 'httpHeadersTimeoutMs'>) {
  const headersTimeout = limits.httpHeadersTimeoutMs;
  return {
    headersTimeout,
    requestTimeout: headersTimeout * 2,
    connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(headersTimeout / 4))),
  };
}

/**
 * Caps the server's open connections (`server.maxConnections`: Node drops those past it) and the
 * connections per peer address, so that one address cannot take them all. Behind trusted proxies
 * every connection comes from a proxy, so the per-address cap is left to them.
 */
export function limitConnections(server: Server, limits: ConnectionLimits): void {
  server.maxConnections = limits.httpMaxConnections;
  if (limits.trustProxy > 0) return;
  const max = limits.httpMaxConnectionsPerIp;
  const open = new Map<string, number>();
  // One listener for every socket; it reads the address Node cached when the connection was counted.
  const release = function releaseConnection(this: Socket) {
    const ip = this.remoteAddress ?? '';
    const left = (open.get(ip) ?? 1) - 1;
    if (left <= 0) open.delete(ip);
    else open.set(ip, left);
  };
  server.on('connection', (socket: Socket) => {
    const ip = socket.remoteAddress ?? '';
    const count = open.get(ip) ?? 0;
    if (count >= max) {
      socket.destroy();
      return;
    }
    open.set(ip, count + 1);
    socket.on('close', release);
  });
}
