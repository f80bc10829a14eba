/** Health and namespace statistics. */
import { Hono } from 'hono';
import type { Realtime } from '../ws/realtime.ts';
import type { AppEnv } from '../ws/types.ts';

export function systemRoutes(rt: Realtime) {
  return new Hono<AppEnv>()
    .get('/health', (c) => {
      // Load balancers stop routing here while clients are drained.
      if (rt.draining) return c.json({ status: 'draining' }, 503);
      const pubsub = rt.pubsub.state();
      const presence = rt.presence.state();
      return c.json({ status: pubsub === 'ok' && presence === 'ok' ? 'ok' : 'degraded', pubsub, presence });
    })
    .get('/api/1/ws/stats', async (c) => {
      const stats = rt.stats();
      // `clients` counts this instance; `members` counts every instance (presence).
      const members = await rt.presence.counts(stats.list.map((ns) => ns.path));
      return c.json({ ...stats, list: stats.list.map((ns) => ({ ...ns, members: members.get(ns.path) ?? ns.clients })) });
    });
}
