/**
 * A server of its own, composed from the framework's pieces (what `src/app.ts` does for the demo,
 * with the lists of `lists.ts`). Run by `test/guide/examples.test.ts`.
 */
import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { pino } from 'pino';
import { createSessions, Realtime, WsRefusal, type AppEnv } from '../../../src/ws/index.ts';
import { listRoutes } from './lists.ts';

// #region compose
export function createServer(options: { secret: string; userRoles?: Record<string, string[]> }) {
  const app = new Hono<AppEnv>();
  // First: its upgrade guard (shutdown, connection limits, origin) runs before any other middleware.
  const rt = new Realtime(app, { logger: pino({ level: process.env.LOG_LEVEL ?? 'info' }) });
  const sessions = createSessions({ secret: options.secret, userRoles: options.userRoles ?? {} });
  app.use('*', sessions.middleware); // c.var.session: the signed-in user, or null (guest)
  app.post('/login', async (c) => {
    // Sign-in stand-in: a real app checks a password or an identity provider first.
    const { username } = await c.req.json<{ username: string }>();
    return c.json({ token: await sessions.issue(c, { username, firstName: '', lastName: '' }) });
  });
  app.route('/', listRoutes(rt));
  app.get('/api/1/ws/*', () => {
    throw WsRefusal.notFound(); // a path no pattern matches: 4404, not a silent 404
  });
  app.onError((err, c) => {
    if (err instanceof WsRefusal) return rt.refuse(c, err); // 44xx close, or 503/429 to retry
    if (err instanceof HTTPException) return c.json({ error: err.message }, err.status);
    return c.json({ error: 'internal error' }, 500);
  });
  return { app, rt, sessions };
}
// #endregion

// #region listen
export function listen(port: number): Promise<{ server: Server; rt: Realtime; port: number }> {
  const secret = process.env.SESSION_SECRET;
  if (!secret || secret.length < 32) throw new Error('set SESSION_SECRET: 32+ characters, the same on every instance');
  const { app, rt } = createServer({ secret });
  return new Promise((resolve) => {
    // rt.serveOptions(): the app's fetch, the WebSocket server and the HTTP timeouts, with the limits.
    const server = serve({ ...rt.serveOptions(), port }, (info) => resolve({ server: server as Server, rt, port: info.port }));
    rt.injectWebSocket(server); // the upgrade is served by the same port as REST; connections are capped
  });
}
// #endregion
