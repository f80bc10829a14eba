/**
 * The app: one Hono router for REST and WebSocket namespaces, sharing one realtime server.
 * `buildApp()` is importable without listening (tests use `app.request()`); running this file
 * (`tsx src/app.ts`, `npm start`) reads the configuration and listens.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { serveStatic } from '@hono/node-server/serve-static';
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { requestId } from 'hono/request-id';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { withCorrelation } from './correlation.ts';
import { createLogger, type Logger } from './log.ts';
import { MemoryMapStore } from './bubblemap/memory-store.ts';
import { RedisMapStore } from './bubblemap/redis-store.ts';
import type { MapStore } from './bubblemap/store.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { authRoutes } from './routes/auth.ts';
import { bubblemapRoutes } from './routes/bubblemap.ts';
import { MemoryRoomHistory, RedisRoomHistory, type RoomHistory } from './routes/room-history.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { roomsRoutes } from './routes/rooms.ts';
import { systemRoutes } from './routes/system.ts';
import { listen } from './server.ts';
import { exitOnSignals } from './shutdown.ts';
import { RedisPresence } from './ws/presence/redis.ts';
import type { Presence } from './ws/presence/types.ts';
import { RedisPubSub } from './ws/pubsub/redis.ts';
import type { PubSub } from './ws/pubsub/types.ts';
import { RedisReplayStore } from './ws/replay/redis.ts';
import { restGuards } from './ws/safety/rest-guard.ts';
import type { ReplayStore } from './ws/replay/types.ts';
import { Realtime } from './ws/realtime.ts';
import { WsRefusal } from './ws/refusal.ts';
import { createSessions, type Sessions } from './ws/session.ts';
import type { AppEnv } from './ws/types.ts';

export interface BuiltApp {
  app: Hono<AppEnv>;
  rt: Realtime;
  sessions: Sessions;
  /** The demo's chat history (Redis when `REDIS_URL` is set). */
  history: RoomHistory;
  log: Logger;
  /** The bubble map example's store (closed by `rt.close()`). */
  mapStore: MapStore;
  /** Undefined when METRICS=off. */
  metrics: Metrics | undefined;
}

export interface AppDeps {
  logger?: Logger;
  /** The broker; default: Redis when `config.redisUrl` is set, else an in-memory bus private to this app. */
  pubsub?: PubSub;
  /** Presence; default: Redis when `config.redisUrl` is set, else in-memory, private to this app. */
  presence?: Presence;
  /** Replay buffers; default: Redis when `config.redisUrl` is set, else in memory, private to this app. */
  replay?: ReplayStore;
  instanceId?: string;
  /** The bubble map store; default: Redis when `config.redisUrl` is set, else in memory. */
  mapStore?: MapStore;
  /** Extra route modules (REST or namespaces), mounted before the catch-all 404s. */
  routes?: (rt: Realtime) => Hono<AppEnv>[];
}

const PUBLIC_DIR = fileURLToPath(new URL('../public', import.meta.url));

/** Builds the app from a validated configuration. Does not listen. */
export function buildApp(config: Config, deps: AppDeps = {}): BuiltApp {
  const log = deps.logger ?? createLogger(config.logLevel, { format: config.logFormat });
  const app = new Hono<AppEnv>();
  const instanceId = deps.instanceId ?? randomUUID();
  const rt = new Realtime(app, {
    logger: log,
    instanceId,
    channelPrefix: config.redisPrefix,
    limits: config.limits,
    unsubscribeDelayMs: config.unsubscribeDelayMs,
    ...redisServices(config, deps, instanceId, log),
  });
  let secret = config.sessionSecret;
  if (!secret) {
    log.warn('SESSION_SECRET is not set: using a random secret; sessions will not survive a restart or work across instances');
    secret = randomBytes(32).toString('hex');
  }
  const sessions = createSessions({ secret, userRoles: config.userRoles, secureCookie: config.cookieSecure });

  const metrics = config.metrics.mode === 'off' ? undefined : createMetrics(rt);

  // The request id is the correlation id of everything the request causes (a REST broadcast).
  app.use('*', requestId({ limitLength: 64 }), function correlate(c, next) {
    return withCorrelation(c.get('requestId'), next);
  });
  app.use('*', sessions.middleware);
  // After the session: the write rate counts per signed-in user as well as per address.
  app.use('*', ...restGuards(config.limits, (c) => rt.clientIp(c)));
  if (metrics) app.route('/', metricsRoutes(metrics, config.metrics.mode === 'token' ? config.metrics.token : undefined));
  app.route('/', authRoutes(sessions, config.userRoles));
  app.route('/', systemRoutes(rt));
  const history = roomHistory(config, rt, instanceId, log);
  app.route('/', roomsRoutes(rt, history));
  const mapStore = deps.mapStore ?? mapStoreFor(config, instanceId, log);
  rt.onClose(() => mapStore.close());
  app.route('/', bubblemapRoutes(rt, { store: mapStore, log, maxMapsPerUser: config.bubblemapMaxMapsPerUser }));
  for (const routes of deps.routes?.(rt) ?? []) app.route('/', routes);
  app.get('/api/1/ws/*', () => {
    throw WsRefusal.notFound();
  });
  app.use('/*', serveStatic({ root: PUBLIC_DIR }));

  app.notFound((c) => c.json({ error: 'not found' }, 404));
  app.onError((err, c) => {
    if (err instanceof WsRefusal) return rt.refuse(c, err);
    if (err instanceof HTTPException) return c.json({ error: err.message }, err.status);
    log.error({ err, path: c.req.path, ip: rt.clientIp(c) }, 'request failed');
    return c.json({ error: 'internal error' }, 500);
  });

  return { app, rt, sessions, history, log, metrics, mapStore };
}

/** The bubble maps in Redis when `REDIS_URL` is set (one map for every instance), else in memory. */
function mapStoreFor(config: Config, instanceId: string, log: Logger): MapStore {
  if (!config.redisUrl) return new MemoryMapStore();
  const logger = log.child({ instanceId });
  return new RedisMapStore({ url: config.redisUrl, prefix: config.redisPrefix, connectionName: `${config.redisPrefix}${instanceId}:bubblemap`, logger });
}

/** The demo's chat history: in Redis when `REDIS_URL` is set, so that every instance's resync sees every message. */
function roomHistory(config: Config, rt: Realtime, instanceId: string, log: Logger): RoomHistory {
  if (!config.redisUrl) return new MemoryRoomHistory();
  const history = new RedisRoomHistory({
    url: config.redisUrl,
    prefix: config.redisPrefix,
    logger: log.child({ instanceId }),
    connectionName: `${config.redisPrefix}${instanceId}:history`,
  });
  rt.onClose(() => history.close());
  return history;
}

/** Pub/sub, presence and replay on Redis when `REDIS_URL` is set (each unless given in deps). */
function redisServices(
  config: Config,
  deps: AppDeps,
  instanceId: string,
  log: Logger,
): { pubsub?: PubSub; presence?: Presence; replay?: ReplayStore } {
  const url = config.redisUrl;
  const name = `${config.redisPrefix}${instanceId}`;
  const logger = log.child({ instanceId });
  const pubsub = deps.pubsub ?? (url ? new RedisPubSub({ url, logger, connectionName: name }) : undefined);
  const presence =
    deps.presence ?? (url ? new RedisPresence({ url, prefix: config.redisPrefix, instanceId, ttlMs: config.presenceTtlMs, logger }) : undefined);
  const replay =
    deps.replay ?? (url ? new RedisReplayStore({ url, prefix: config.redisPrefix, logger, connectionName: `${name}:replay` }) : undefined);
  return { ...(pubsub ? { pubsub } : {}), ...(presence ? { presence } : {}), ...(replay ? { replay } : {}) };
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
  const built = buildApp(config);
  const running = await listen(built, { port: config.port, hostname: config.host });
  built.log.info({ port: running.port }, `listening on http://localhost:${running.port}`);
  exitOnSignals(built, running, config.shutdown);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  void main();
}
