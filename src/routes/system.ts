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
      return c.json({ status: pubsub === 'ok' ? 'ok' : 'degraded', pubsub });
    })
    .get('/api/1/ws/stats', (c) => c.json(rt.stats()));
}
