/**
 * A server of its own, composed from the framework's pieces (what `src/app.ts` does for the demo,
 * with the lists of `lists.ts`). Run by `test/guide/examples.test.ts`, and as a program by the
 * guide's step 4 (`node --import tsx docs/guide/examples/server.ts`, run by `test/guide/steps.test.ts`).
 */
import type { Server } from 'node:http';
import { pathToFileURL } from 'node:url';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { pino } from 'pino';
import { createSessions, Realtime, WsRefusal, type AppEnv } from 'hono-namespaces';
import { listRoutes } from './lists.ts';

// #region compose
export function createServer(options: { secret: string; userRoles?: Record<string, string[]> }) {
  const app = new Hono<AppEnv>();
  // First: its upgrade guard (shutdown, connection limits, origin) runs before any other middleware.
  const rt = new Realtime(app, { logger: pino({ level: process.env.LOG_LEVEL ?? 'info' }) });
  const sessions = createSessions({ secret: options.secret, userRoles: options.userRoles ?? {} });
  app.use('*', sessions.middleware); // c.var.session: the signed-in user, or null (guest)
  app.use('*', ...rt.restGuards()); // body size, same-origin writes, write rate per address and user
  app.post('/login', async (c) => {
    // Sign-in stand-in: a real app checks a password or an identity provider first.
    const { username } = await c.req.json<{ username: string }>();
    return c.json({ token: sessions.issue(c, { username, firstName: '', lastName: '' }) });
  });
  app.route('/', listRoutes(rt));
  // Liveness for an orchestrator: 200 while the process answers, draining included.
  app.get('/health', (c) => c.json({ status: rt.draining ? 'draining' : 'ok' }));
  app.get('/api/1/ws', rt.multiplex()); // one socket, many namespaces: each subscribe runs the route of its path
  app.get('/api/1/ws/*', () => {
    throw WsRefusal.notFound(); // a path no pattern matches: 4404, not a silent 404
  });
  app.onError(rt.errorHandler()); // a refusal: a 44xx close or a 503/429 to retry; an HTTPException: { error }; else 500
  return { app, rt, sessions };
}
// #endregion

// #region listen
export function listen(port: number): Promise<{ server: Server; rt: Realtime; port: number }> {
  const secret = process.env.SESSION_SECRET;
  if (!secret || secret.length < 32) throw new Error('set SESSION_SECRET: 32+ characters, the same on every instance');
  const { app, rt } = createServer({ secret });
  return new Promise((resolve, reject) => {
    // rt.serveOptions(): the app's fetch, the WebSocket server and the HTTP timeouts, with the limits.
    const server = serve({ ...rt.serveOptions(), port }, (info) => resolve({ server: server as Server, rt, port: info.port }));
    server.once('error', reject); // a port in use, no permission
    rt.injectWebSocket(server); // the upgrade is served by the same port as REST; connections are capped
  });
}
// #endregion

// #region run
// Run as a program: listens on PORT (default 3000); SIGTERM or Ctrl-C stops it cleanly.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { server, rt, port } = await listen(Number(process.env.PORT ?? 3000));
  console.log(`listening on http://localhost:${port} (GET /health, WS /api/1/ws/lists/:listId)`);
  const stop = async (signal: NodeJS.Signals) => {
    console.log(`${signal}: shutting down`);
    // New upgrades get 503; clients are closed with 1012 over a second and reconnect elsewhere.
    await rt.shutdown({ spreadMs: 1000, timeoutMs: 5000 });
    server.close(() => process.exit(0));
  };
  // `once`: a second Ctrl-C is not caught, and ends the process at once.
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
// #endregion
