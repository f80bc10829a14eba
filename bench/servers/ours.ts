/**
 * Our server for the benchmark: the real pipeline (session middleware, access, params, zod
 * message schema, namespace per room) with one bench namespace that relays
 * `{ type: 'chat', data: { text } }` to its room, the sender included, like the baselines do.
 */
import { Hono } from 'hono';
import { z } from 'zod';
import { createLogger } from '../../src/log.ts';
import { createMetrics } from '../../src/metrics.ts';
import { authRoutes } from '../../src/routes/auth.ts';
import { listen } from '../../src/server.ts';
import { access } from '../../src/ws/access.ts';
import type { Limits } from '../../src/ws/safety/limits.ts';
import type { PubSub } from '../../src/ws/pubsub/types.ts';
import { Realtime } from '../../src/ws/realtime.ts';
import { WsRefusal } from '../../src/ws/refusal.ts';
import { createSessions } from '../../src/ws/session.ts';
import type { AppEnv } from '../../src/ws/types.ts';
import { serveControl, trackBrokerSockets } from './control.ts';

export const BENCH_SECRET = 'bench-secret-that-is-long-enough-0123456789';

/**
 * Limits opened up as for a load test: every client comes from 127.0.0.1 as one user, connects as
 * fast as it can and a room's sender sends thousands of messages a second. The baselines have no
 * such limits. The slow-consumer limit (maxBufferedBytes) keeps its default: it is what scenario 5
 * is about.
 */
const BENCH_LIMITS: Partial<Limits> = {
  maxConnections: 100_000,
  maxConnectionsPerIp: 100_000,
  maxConnectionsPerUser: 100_000,
  admissionRate: 1_000_000,
  admissionBurst: 1_000_000,
  admissionRatePerIp: 0,
  httpMaxConnections: 1_000_000,
  httpMaxConnectionsPerIp: 1_000_000,
  messageRate: 1_000_000,
  messageBurst: 1_000_000,
  maxPendingMessages: 10_000,
};

const Room = z.object({ room: z.string().regex(/^[A-Za-z0-9_-]{1,40}$/) });
const Chat = z.object({ text: z.string().max(64 * 1024) });

/** Composes the bench app; the pub/sub is a parameter so the cross-instance scenario can pass Redis. */
export async function startOurs(pubsub?: PubSub, channelPrefix?: string) {
  const log = createLogger('silent');
  const app = new Hono<AppEnv>();
  const rt = new Realtime(app, { logger: log, limits: BENCH_LIMITS, ...(pubsub ? { pubsub } : {}), ...(channelPrefix ? { channelPrefix } : {}) });
  const sessions = createSessions({ secret: BENCH_SECRET, userRoles: {}, secureCookie: false });
  app.use('*', sessions.middleware);
  app.route('/', authRoutes(sessions, {}));
  app.get(
    '/api/1/ws/bench/:room',
    access({ requireAuth: false }),
    rt.namespace({
      params: Room,
      messages: { chat: Chat },
      onMessage({ message }, ns) {
        void ns.broadcast('chat', { text: message.data.text });
      },
    }),
  );
  app.onError((err, c) => (err instanceof WsRefusal ? rt.refuse(c, err) : c.json({ error: String(err) }, 500)));
  // Metrics on, as by default: their counters are part of the per-delivery cost users pay.
  const metrics = createMetrics(rt);
  return listen({ app, rt, sessions, log, metrics }, { port: Number(process.env.BENCH_PORT ?? 0), hostname: '127.0.0.1' });
}

/**
 * The Redis pub/sub of the cross-instance scenario. Loaded by path so this file still runs on a
 * branch without it (the scenario then reports that it needs `RedisPubSub`).
 */
async function redisPubSub(url: string): Promise<PubSub> {
  const modulePath = '../../src/ws/pubsub/redis.ts';
  let mod: { RedisPubSub: new (options: { url: string; logger: ReturnType<typeof createLogger>; connectionName?: string }) => PubSub };
  try {
    mod = await import(modulePath);
  } catch {
    throw new Error('the cross-instance scenario needs RedisPubSub (src/ws/pubsub/redis.ts, issue 3)');
  }
  trackBrokerSockets();
  return new mod.RedisPubSub({ url, logger: createLogger('silent'), connectionName: 'bench' });
}

if (process.env.BENCH_CHILD === '1') {
  const url = process.env.BENCH_REDIS_URL;
  const pubsub = url
    ? await redisPubSub(url).catch((err: Error) => {
        console.error(err.message);
        process.exit(1);
      })
    : undefined;
  const running = await startOurs(pubsub, process.env.BENCH_REDIS_PREFIX);
  serveControl(running.port, () => running.close());
}
