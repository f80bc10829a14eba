/**
 * Liveness, readiness and namespace statistics.
 * - `GET /health` (liveness): 200 while the process serves requests; restart it when this fails.
 * - `GET /ready` (readiness): 200 when it should get new clients; 503 while shutting down or while
 *   any connection it depends on is down (the broker, presence, the app's stores) or, on a Redis
 *   Cluster, a node serving namespaces it hosts is, with the reasons: a client connected here
 *   could not be served as promised.
 */
import { Hono } from 'hono';
import type { AppEnv, Realtime } from 'hono-namespaces';

/** `/health`, `/ready` and `/api/1/ws/stats` of `rt`. */
export function systemRoutes(rt: Realtime) {
  return new Hono<AppEnv>()
    .get('/health', (c) => {
      // Liveness stays 200 while draining: a failing liveness probe would get the process
      // restarted in the middle of its graceful shutdown. Readiness (`/ready`) turns it away.
      const down = rt.unhealthy();
      const status = rt.draining ? 'draining' : down.length === 0 ? 'ok' : 'degraded';
      // On a cluster: the masters and replicas its client routes to.
      const nodes = rt.broker.nodes?.();
      return c.json({ status, mode: rt.broker.kind, ...(nodes ? { nodes } : {}), broker: rt.broker.state(), presence: rt.presence.state(), ...(down.length ? { degraded: down } : {}) });
    })
    .get('/ready', (c) => {
      const reasons = rt.unhealthy().map((name) => `${name} unreachable`);
      if (rt.draining) reasons.unshift('shutting down');
      c.header('cache-control', 'no-store');
      if (reasons.length > 0) return c.json({ ready: false, reasons, draining: rt.draining }, 503);
      return c.json({ ready: true, draining: false });
    })
    .get('/api/1/ws/stats', async (c) => {
      const stats = rt.stats();
      // `clients` counts this instance; `members` counts every instance (presence).
      const members = await rt.presence.counts(stats.list.map((ns) => ns.path));
      return c.json({ ...stats, list: stats.list.map((ns) => ({ ...ns, members: members.get(ns.path) ?? ns.clients })) });
    });
}
