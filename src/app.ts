/**
 * The app: one Hono router for REST and WebSocket namespaces, sharing one realtime server.
 * `buildApp()` is importable without listening (tests use `app.request()`); running this file
 * (`tsx src/app.ts`, `npm start`) reads the configuration and listens.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { serveStatic } from '@hono/node-server/serve-static';
import { Hono } from 'hono';
import { requestId } from 'hono/request-id';
import { ConfigError, loadConfig, type Config } from './config.ts';
import { devSecret, type DevSecret } from './dev-secret.ts';
import { createLogger, type Logger } from './log.ts';
import { MemoryMapStore } from './routes/bubblemap/memory-store.ts';
import { RedisMapStore } from './routes/bubblemap/redis-store.ts';
import type { MapStore } from './routes/bubblemap/store.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { authRoutes } from './routes/auth.ts';
import { bubblemapRoutes } from './routes/bubblemap/index.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { roomsRoutes } from './routes/rooms.ts';
import { systemRoutes } from './routes/system.ts';
import { listen, type RunningServer } from './server.ts';
import { exitOnSignals } from './shutdown.ts';
import { startupFailure, startupLines } from './startup.ts';
import {
  createSessions,
  Realtime,
  RedisBroker,
  RedisPresence,
  withCorrelation,
  WsRefusal,
  type AppEnv,
  type Broker,
  type Presence,
  type RedisTarget,
  type Sessions,
} from 'hono-namespaces';

export interface BuiltApp {
  app: Hono<AppEnv>;
  rt: Realtime;
  sessions: Sessions;
  log: Logger;
  /** The bubble map example's store (closed by `rt.close()`). */
  mapStore: MapStore;
  /** Undefined when METRICS=off. */
  metrics: Metrics | undefined;
}

export interface AppDeps {
  logger?: Logger;
  /** The broker (bus and logs); default: on Redis when `config.redisUrl` or `config.redisClusterNodes` is set, else in memory, private to this app. */
  broker?: Broker;
  /** Presence; default: on Redis when `config.redisUrl` or `config.redisClusterNodes` is set, else in-memory, private to this app. */
  presence?: Presence;
  instanceId?: string;
  /** The bubble map store; default: on Redis when `config.redisUrl` or `config.redisClusterNodes` is set, else in memory. */
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
    limits: config.limits,
    unsubscribeDelayMs: config.unsubscribeDelayMs,
    ...redisServices(config, deps, instanceId, log),
  });
  let secret = config.sessionSecret;
  if (!secret) {
    // `npm start` passes a kept one (src/dev-secret.ts); this is for an app built in code without one.
    log.warn('no session secret given: using a random one; sessions will not survive a restart or work across instances');
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
  app.use('*', ...rt.restGuards());
  if (metrics) app.route('/', metricsRoutes(metrics, config.metrics.mode === 'token' ? config.metrics.token : undefined));
  app.route('/', authRoutes(sessions, config.userRoles));
  app.route('/', systemRoutes(rt));
  app.route('/', roomsRoutes(rt));
  const mapStore = deps.mapStore ?? mapStoreFor(config, instanceId, log);
  rt.onClose(() => mapStore.close());
  rt.dependsOn({ name: `bubble map store (${mapStore.kind})`, state: () => mapStore.health() });
  app.route('/', bubblemapRoutes(rt, { store: mapStore, log, maxMapsPerUser: config.bubblemapMaxMapsPerUser }));
  for (const routes of deps.routes?.(rt) ?? []) app.route('/', routes);
  // One socket for many namespaces: each subscribe runs the route of its path above.
  app.get('/api/1/ws', rt.multiplex());
  app.get('/api/1/ws/*', () => {
    throw WsRefusal.notFound();
  });
  app.use('/*', serveStatic({ root: PUBLIC_DIR }));

  app.notFound((c) => c.json({ error: `no such route: ${c.req.method} ${c.req.path}` }, 404));
  app.onError(rt.errorHandler());

  return { app, rt, sessions, log, metrics, mapStore };
}

/** Where the Redis-backed services live: `REDIS_URL` (one Redis) or `REDIS_CLUSTER_NODES` (a cluster); undefined in memory. */
function redisTarget(config: Config): RedisTarget | undefined {
  if (config.redisClusterNodes) return { clusterNodes: config.redisClusterNodes };
  return config.redisUrl ? { url: config.redisUrl } : undefined;
}

/** The bubble maps in Redis when it is configured (one map for every instance), else in memory. */
function mapStoreFor(config: Config, instanceId: string, log: Logger): MapStore {
  const target = redisTarget(config);
  if (!target) return new MemoryMapStore();
  const logger = log.child({ instanceId });
  return new RedisMapStore({ ...target, prefix: config.redisPrefix, connectionName: `${config.redisPrefix}${instanceId}:bubblemap`, logger });
}

/** The broker and presence on Redis when it is configured (each unless given in deps). */
function redisServices(config: Config, deps: AppDeps, instanceId: string, log: Logger): { broker?: Broker; presence?: Presence } {
  const target = redisTarget(config);
  const logger = log.child({ instanceId });
  const prefix = config.redisPrefix;
  const broker = deps.broker ?? (target ? new RedisBroker({ ...target, prefix, logger, connectionName: `${prefix}${instanceId}` }) : undefined);
  const presence = deps.presence ?? (target ? new RedisPresence({ ...target, prefix, instanceId, ttlMs: config.presenceTtlMs, logger }) : undefined);
  return { ...(broker ? { broker } : {}), ...(presence ? { presence } : {}) };
}

async function main(): Promise<void> {
  let config: Config;
  let kept: DevSecret | undefined;
  try {
    config = loadConfig();
    // Configuration refuses production without SESSION_SECRET: this is a development run.
    if (!config.sessionSecret) kept = devSecret(config.devSecretFile);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
  const built = buildApp({ ...config, sessionSecret: config.sessionSecret ?? kept?.secret });
  if (kept) {
    const path = resolve(config.devSecretFile);
    const file = path.startsWith(process.cwd() + sep) ? relative(process.cwd(), path) : path;
    built.log.warn(
      `SESSION_SECRET is not set: sessions are signed with a development secret ${kept.created ? 'created in' : 'kept in'} ${file}, so they survive restarts; set SESSION_SECRET in production (NODE_ENV=production requires it)`,
    );
  }
  let running: RunningServer;
  try {
    running = await listen(built, { port: config.port, hostname: config.host });
  } catch (err) {
    const line = startupFailure(err, config);
    if (!line) throw err;
    console.error(line);
    process.exit(1);
  }
  for (const [fields, message] of startupLines(config, { address: running.server.address() as AddressInfo, host: config.host })) built.log.info(fields, message);
  exitOnSignals(built, running, config.shutdown);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  void main();
}
