/**
 * Listening wiring: a Node HTTP server for a built app, with the WebSocket upgrade attached and
 * the HTTP limits (timeouts, connection caps) applied.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';
import type { AppEnv, Realtime } from 'hono-namespaces';

export interface RunningServer {
  port: number;
  server: Server;
  /** Closes all sockets, the broker connections and the listener. */
  close(): Promise<void>;
}

/** Starts listening; resolves once the port is bound (pass port 0 for an ephemeral one). */
export function listen(built: { app: Hono<AppEnv>; rt: Realtime }, options: { port: number; hostname?: string | undefined }): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    const server = serve(
      { ...built.rt.serveOptions(), port: options.port, ...(options.hostname ? { hostname: options.hostname } : {}) },
      (info: AddressInfo) => {
        server.off('error', reject);
        resolve({
          port: info.port,
          server: server as Server,
          async close() {
            await built.rt.close();
            await new Promise<void>((done) => {
              server.close(() => done());
              (server as Server).closeAllConnections?.();
            });
          },
        });
      },
    ) as Server;
    server.once('error', reject);
    built.rt.injectWebSocket(server);
  });
}
