/**
 * Liveness, readiness and namespace statistics.
 * - `GET /health` (liveness): 200 while the process serves requests; restart it when this fails.
 * - `GET /ready` (readiness): 200 when it should get new clients; 503 while shutting down or while
 *   the broker is unreachable (a client connected here would miss other instances' broadcasts).
 */
import { Hono } from 'hono';
import type { Realtime } from '../ws/realtime.ts';
import type { AppEnv } from '../ws/types.ts';

/** `/health`, `/ready` and `/api/1/ws/stats` of `rt`. */
export function systemRoutes(rt: Realtime) {
  return new Hono<AppEnv>()
    .get('/health', (c) => {
      // Liveness stays 200 while draining: a failing liveness probe would get the process
      // restarted in the middle of its graceful shutdown. Readiness (`/ready`) turns it away.
      const pubsub = rt.pubsub.state();
      const presence = rt.presence.state();
      const status = rt.draining ? 'draining' : pubsub === 'ok' && presence === 'ok' ? 'ok' : 'degraded';
      return c.json({ status, mode: rt.pubsub.kind, pubsub, presence });
    })
    .get('/ready', (c) => {
      const pubsub = rt.pubsub.state();
      const reasons: string[] = [];
      if (rt.draining) reasons.push('shutting down');
      if (pubsub !== 'ok') reasons.push(`pubsub (${rt.pubsub.kind}) ${pubsub}`);
      c.header('cache-control', 'no-store');
      if (reasons.length > 0) return c.json({ ready: false, reasons, pubsub, draining: rt.draining }, 503);
      return c.json({ ready: true, pubsub, draining: false });
    })
    .get('/api/1/ws/stats', async (c) => {
      const stats = rt.stats();
      // `clients` counts this instance; `members` counts every instance (presence).
      const members = await rt.presence.counts(stats.list.map((ns) => ns.path));
      return c.json({ ...stats, list: stats.list.map((ns) => ({ ...ns, members: members.get(ns.path) ?? ns.clients })) });
    });
}
