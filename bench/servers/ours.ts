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
import { systemRoutes } from '../../src/routes/system.ts';
import { listen } from '../../src/server.ts';
import { access, onCreate } from '../../src/ws/auth/access.ts';
import type { Limits } from '../../src/ws/safety/limits.ts';
import { RedisBroker } from '../../src/ws/broker/redis.ts';
import type { Broker } from '../../src/ws/broker/types.ts';
import { Realtime } from '../../src/ws/realtime.ts';
import { createSessions } from '../../src/ws/auth/session.ts';
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
  // Scenario 8's clients hold 20 subscriptions each, all from 127.0.0.1.
  maxSubscriptionsPerIp: 10_000_000,
  // BENCH_PING_MS: the heartbeat's interval (scenario 6 runs it every few seconds); default as in production.
  ...(process.env.BENCH_PING_MS ? { pingIntervalMs: Number(process.env.BENCH_PING_MS) } : {}),
};

const Room = z.object({ room: z.string().regex(/^[A-Za-z0-9_-]{1,40}$/) });
const Chat = z.object({ text: z.string().max(64 * 1024) });

/**
 * The bench namespace keeps a log as the shipped rooms do (every broadcast sequenced and logged,
 * 200 kept for 5 minutes); `BENCH_REPLAY=off` measures plain broadcasts.
 */
const REPLAY = process.env.BENCH_REPLAY === 'off' ? undefined : { size: 200, maxAgeMs: 300_000 };

/** Composes the bench app; the broker is a parameter so the cross-instance scenario can pass Redis. */
export async function startOurs(broker?: Broker) {
  const log = createLogger('silent');
  const app = new Hono<AppEnv>();
  const rt = new Realtime(app, { logger: log, limits: BENCH_LIMITS, ...(broker ? { broker } : {}) });
  const sessions = createSessions({ secret: BENCH_SECRET, userRoles: {}, secureCookie: false });
  app.use('*', sessions.middleware);
  app.route('/', authRoutes(sessions, {}));
  app.route('/', systemRoutes(rt));
  app.get(
    '/api/1/ws/bench/:room',
    access({ requireAuth: false }),
    // The full pipeline of a connect: an onCreate runs on every one (a real app authorizes here).
    onCreate(function allowRoom(_c, ctx) {
      return ctx;
    }),
    rt.namespace({
      params: Room,
      messages: { chat: Chat },
      ...(REPLAY ? { replay: REPLAY } : {}),
      onMessage({ message }, ns) {
        void ns.broadcast('chat', { text: message.data.text });
      },
    }),
  );
  // The multiplexed endpoint (scenario 8): its subscribes run the route above.
  app.get('/api/1/ws', rt.multiplex());
  app.onError(rt.errorHandler());
  // Metrics on, as by default: their counters are part of the per-delivery cost users pay.
  createMetrics(rt);
  return listen({ app, rt }, { port: Number(process.env.BENCH_PORT ?? 0), hostname: '127.0.0.1' });
}

/** The Redis broker of the cross-instance scenario: on one Redis (`url`) or a cluster (`host:port,...`). */
async function redisBroker(url: string | undefined, clusterNodes: string | undefined, prefix: string | undefined): Promise<Broker> {
  trackBrokerSockets();
  const target = clusterNodes
    ? { clusterNodes: clusterNodes.split(',').map((n) => ({ host: n.slice(0, n.lastIndexOf(':')), port: Number(n.slice(n.lastIndexOf(':') + 1)) })) }
    : { url: url! };
  const broker = new RedisBroker({ ...target, prefix, logger: createLogger('silent'), connectionName: 'bench' });
  await broker.ready();
  return broker;
}

if (process.env.BENCH_CHILD === '1') {
  const { BENCH_REDIS_URL: url, BENCH_REDIS_CLUSTER_NODES: clusterNodes } = process.env;
  const broker = url || clusterNodes ? await redisBroker(url, clusterNodes, process.env.BENCH_REDIS_PREFIX) : undefined;
  const running = await startOurs(broker);
  serveControl(running.port, () => running.close());
}
