/**
 * Every setting of the app, read from the environment and validated by zod. A bad value stops
 * start-up with one line per variable that names it, the value received and what it accepts
 * (`PORT="99999": expected a whole number from 0 to 65535`); `describeVariables()` gives the same
 * words to docs/operations.md. A schema built from the helpers below (`int`, `bool`, `accepts`),
 * a `z.enum` or a `z.string()` with a length needs nothing more to get such a message.
 */
import { z } from 'zod';
import { DEFAULT_LIMITS as L, resolveLimits, type Limits, type NodeAddress } from 'hono-namespaces';

/** What a variable accepts, in words, for the schemas whose checks cannot say it themselves. */
const ACCEPTS = z.registry<{ accepts: string }>();

/** `schema`, with the words that say what it accepts (`expected <words>` in the error). */
function accepts<T extends z.ZodType>(schema: T, words: string): T {
  ACCEPTS.add(schema, { accepts: words });
  return schema;
}

const bool = accepts(
  z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => v === 'true' || v === '1' || v === 'yes'),
  'true or false (or 1/0, yes/no)',
);

/** A whole number from `min` to `max`, written in digits ("1k", "1e3" and "1.5" are refused). */
const int = (min: number, max: number) =>
  accepts(z.string().trim().regex(/^-?\d+$/).transform(Number).pipe(z.number().min(min).max(max)), `a whole number from ${min} to ${max}`);

/**
 * `USER_ROLES`: roles granted by configuration, never by the client.
 * Format `alice:admin,editor;bob:editor`.
 */
const userRoles = accepts(
  z.string().transform((spec, ctx) => {
    // No prototype: a user named `constructor` or `__proto__` is a key like any other.
    const out: Record<string, string[]> = Object.create(null);
    for (const entry of spec.split(';').map((s) => s.trim()).filter(Boolean)) {
      const [user, roles] = entry.split(':');
      if (!user || roles === undefined) {
        ctx.addIssue({ code: 'custom', message: `expected user:role,role;user:role (bad entry "${entry}")` });
        return z.NEVER;
      }
      out[user.trim()] = roles.split(',').map((r) => r.trim()).filter(Boolean);
    }
    return out;
  }),
  'user:role,role;user:role',
);

/** `ALLOWED_ORIGINS`: comma-separated `scheme://host[:port]` origins, or `*` for any. */
const originList = accepts(
  z.string().transform((spec, ctx) => {
    const out: string[] = [];
    for (const entry of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
      if (entry !== '*' && entry !== 'null' && !/^https?:\/\/[^/\s]+$/.test(entry)) {
        ctx.addIssue({ code: 'custom', message: `expected origins like https://app.example.com, comma separated (bad entry "${entry}")` });
        return z.NEVER;
      }
      out.push(entry);
    }
    return out;
  }),
  'origins like https://app.example.com, comma separated, or *',
);

/** `REDIS_CLUSTER_NODES`: comma-separated `host:port` nodes of a Redis Cluster (some or all). */
const clusterNodes = accepts(
  z.string().transform((spec, ctx) => {
    const out: NodeAddress[] = [];
    for (const entry of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
      const match = /^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):(\d{1,5})$/.exec(entry);
      const port = Number(match?.[2]);
      if (!match || !(port >= 1 && port <= 65535)) {
        ctx.addIssue({ code: 'custom', message: `expected host:port nodes, comma separated (bad entry "${entry}")` });
        return z.NEVER;
      }
      out.push({ host: match[1]!.replace(/^\[|\]$/g, ''), port });
    }
    if (out.length === 0) {
      ctx.addIssue({ code: 'custom', message: 'expected host:port nodes, comma separated (none given)' });
      return z.NEVER;
    }
    return out;
  }),
  'host:port nodes of a Redis Cluster, comma separated',
);

const Env = z.object({
  PORT: int(0, 65535).default(3000),
  HOST: accepts(z.string(), 'a host name or an IP address of this machine').optional(),
  SESSION_SECRET: z.string().min(32).optional(),
  NODE_ENV: accepts(z.string(), 'any name; production requires SESSION_SECRET').optional(),
  DEV_SECRET_FILE: accepts(z.string(), 'a file path').default('.data/session-secret'),
  USER_ROLES: userRoles.default({}),
  COOKIE_SECURE: bool.default(false),
  REDIS_URL: accepts(z.string().regex(/^rediss?:\/\//), 'a redis:// or rediss:// URL').optional(),
  REDIS_CLUSTER_NODES: clusterNodes.optional(),
  REDIS_PREFIX: z.string().min(1).max(64).default('hns:'),
  PRESENCE_TTL_MS: int(300, 600_000).default(10_000),
  UNSUBSCRIBE_DELAY_MS: int(0, 600_000).default(2000),
  // Protective limits: docs/limits.md explains each one, its code and values for a public server.
  WS_MAX_PAYLOAD: int(128, 16 * 1024 * 1024).default(L.maxPayload),
  WS_MAX_DEPTH: int(2, 1000).default(L.maxDepth),
  WS_MAX_FRAGMENTS: int(1, 1_000_000).default(L.maxFragments),
  WS_MAX_PENDING_PONGS: int(1, 1_000_000).default(L.maxPendingPongs),
  WS_MAX_CONNECTIONS: int(1, 10_000_000).default(L.maxConnections),
  WS_MAX_CONNECTIONS_PER_IP: int(1, 10_000_000).default(L.maxConnectionsPerIp),
  WS_MAX_CONNECTIONS_PER_USER: int(1, 10_000_000).default(L.maxConnectionsPerUser),
  WS_ADMISSION_RATE: int(0, 1_000_000).default(L.admissionRate),
  WS_ADMISSION_BURST: int(1, 1_000_000).default(L.admissionBurst),
  WS_ADMISSION_RATE_PER_IP: int(0, 1_000_000).default(L.admissionRatePerIp),
  WS_ADMISSION_BURST_PER_IP: int(1, 1_000_000).default(L.admissionBurstPerIp),
  WS_MAX_NAMESPACES: int(1, 10_000_000).default(L.maxNamespaces),
  WS_MAX_SUBSCRIPTIONS: int(1, 100_000).default(L.maxSubscriptions),
  WS_MAX_SUBSCRIPTIONS_PER_IP: int(1, 10_000_000).default(L.maxSubscriptionsPerIp),
  WS_MESSAGE_RATE: int(0, 1_000_000).default(L.messageRate),
  WS_MESSAGE_BURST: int(1, 1_000_000).default(L.messageBurst),
  WS_MAX_PENDING_MESSAGES: int(1, 1_000_000).default(L.maxPendingMessages),
  WS_MAX_REJECTED: int(1, 1_000_000).default(L.maxRejected),
  WS_MAX_BUFFERED_BYTES: int(1024, 1024 * 1024 * 1024).default(L.maxBufferedBytes),
  WS_PING_INTERVAL_MS: int(0, 3_600_000).default(L.pingIntervalMs),
  WS_CLOSE_TIMEOUT_MS: int(100, 600_000).default(L.closeTimeoutMs),
  TRUST_PROXY: int(0, 10).default(L.trustProxy),
  ALLOWED_ORIGINS: originList.default([...L.allowedOrigins]),
  HTTP_MAX_BODY_BYTES: int(1024, 1024 * 1024 * 1024).default(L.httpMaxBodyBytes),
  HTTP_WRITE_RATE: int(0, 1_000_000).default(L.httpWriteRate),
  HTTP_WRITE_BURST: int(1, 1_000_000).default(L.httpWriteBurst),
  HTTP_MAX_CONNECTIONS: int(1, 10_000_000).optional(),
  HTTP_MAX_CONNECTIONS_PER_IP: int(1, 10_000_000).optional(),
  HTTP_HEADERS_TIMEOUT_MS: int(1000, 600_000).default(L.httpHeadersTimeoutMs),
  BUBBLEMAP_MAX_MAPS_PER_USER: int(1, 1_000_000).default(20),
  SHUTDOWN_SPREAD_MS: int(0, 600_000).default(5_000),
  SHUTDOWN_TIMEOUT_MS: int(100, 600_000).default(10_000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOG_FORMAT: z.enum(['auto', 'json', 'pretty']).default('auto'),
  METRICS: z.enum(['off', 'token', 'public']).optional(),
  METRICS_TOKEN: z.string().min(16).optional(),
}).superRefine((e, ctx) => {
  if (e.NODE_ENV === 'production' && !e.SESSION_SECRET) {
    ctx.addIssue({ code: 'custom', path: ['SESSION_SECRET'], message: 'required when NODE_ENV=production: 32 or more random characters, the same on every instance' });
  }
  if (e.REDIS_URL && e.REDIS_CLUSTER_NODES) {
    ctx.addIssue({ code: 'custom', path: ['REDIS_CLUSTER_NODES'], message: 'set together with REDIS_URL: set REDIS_URL for one Redis, or REDIS_CLUSTER_NODES for a Redis Cluster, not both' });
  }
  if (e.REDIS_CLUSTER_NODES && /[{}]/.test(e.REDIS_PREFIX)) {
    ctx.addIssue({ code: 'custom', path: ['REDIS_PREFIX'], message: 'may hold no { or } with REDIS_CLUSTER_NODES: a hash tag in it would put every namespace in one cluster slot' });
  }
  if (e.METRICS === 'token' && !e.METRICS_TOKEN) {
    ctx.addIssue({ code: 'custom', path: ['METRICS_TOKEN'], message: 'required when METRICS=token' });
  }
  if (e.HTTP_MAX_CONNECTIONS !== undefined && e.HTTP_MAX_CONNECTIONS < e.WS_MAX_CONNECTIONS) {
    ctx.addIssue({ code: 'custom', path: ['HTTP_MAX_CONNECTIONS'], message: `must be at least WS_MAX_CONNECTIONS (${e.WS_MAX_CONNECTIONS}): every socket is an HTTP connection` });
  }
  if (e.METRICS && e.METRICS !== 'token' && e.METRICS_TOKEN) {
    ctx.addIssue({ code: 'custom', path: ['METRICS_TOKEN'], message: `set, but METRICS=${e.METRICS} would ignore it` });
  }
});

/**
 * Who may read `GET /metrics`: `off` (not served, 404), `token` (a bearer token is required) or
 * `public` (anyone who can reach the port: for a port only the scraper reaches).
 */
export type MetricsMode = 'off' | 'token' | 'public';

/** The validated configuration. */
export interface Config {
  port: number;
  host: string | undefined;
  /** Undefined in development: `npm start` keeps a generated one in `devSecretFile`. */
  sessionSecret: string | undefined;
  /** `NODE_ENV=production`: SESSION_SECRET is then required. */
  production: boolean;
  /** Where a development run keeps its generated session secret (`.data/session-secret`). */
  devSecretFile: string;
  userRoles: Record<string, string[]>;
  cookieSecure: boolean;
  /** One Redis (`REDIS_URL`); at most one of `redisUrl` and `redisClusterNodes` is set. */
  redisUrl: string | undefined;
  /** Nodes of a Redis Cluster to start from (`REDIS_CLUSTER_NODES`). */
  redisClusterNodes: NodeAddress[] | undefined;
  redisPrefix: string;
  /** Within how long of its death a dead instance's members are gone from presence and reported as ghosts. */
  presenceTtlMs: number;
  /** How long a removed namespace keeps its bus subscription (churn without thrashing). */
  unsubscribeDelayMs: number;
  /** Protective limits of the realtime server (docs/limits.md). */
  limits: Limits;
  /** Most maps one user of the bubble map example may hold (created and not deleted). */
  bubblemapMaxMapsPerUser: number;
  /** Graceful shutdown: window over which clients are closed, and the bound on the whole exit. */
  shutdown: { spreadMs: number; timeoutMs: number };
  logLevel: string;
  /** `auto` (pretty on a terminal, JSON otherwise), `json` or `pretty`. */
  logFormat: 'auto' | 'json' | 'pretty';
  /** Default: `token` when METRICS_TOKEN is set, else `off`. */
  metrics: { mode: MetricsMode; token: string | undefined };
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Reads and validates the configuration; throws `ConfigError` naming each bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== '')) as Record<string, string>;
  const parsed = Env.safeParse(present);
  if (!parsed.success) {
    // One line per variable: its first problem is enough to fix it.
    const lines = new Map<string, string>();
    for (const issue of parsed.error.issues) {
      const name = String(issue.path[0]);
      if (!lines.has(name)) lines.set(name, problem(name, present[name], issue));
    }
    const all = [...lines.values()];
    throw new ConfigError(all.length === 1 ? `invalid configuration: ${all[0]}` : `invalid configuration:\n${all.map((l) => `- ${l}`).join('\n')}`);
  }
  const e = parsed.data;
  return {
    port: e.PORT,
    host: e.HOST,
    sessionSecret: e.SESSION_SECRET,
    production: e.NODE_ENV === 'production',
    devSecretFile: e.DEV_SECRET_FILE,
    userRoles: e.USER_ROLES,
    cookieSecure: e.COOKIE_SECURE,
    redisUrl: e.REDIS_URL,
    redisClusterNodes: e.REDIS_CLUSTER_NODES,
    redisPrefix: e.REDIS_PREFIX,
    presenceTtlMs: e.PRESENCE_TTL_MS,
    unsubscribeDelayMs: e.UNSUBSCRIBE_DELAY_MS,
    // Limits left unset (the TCP caps) are derived from the others, as the realtime server does.
    limits: resolveLimits({
      maxPayload: e.WS_MAX_PAYLOAD,
      maxDepth: e.WS_MAX_DEPTH,
      maxFragments: e.WS_MAX_FRAGMENTS,
      maxPendingPongs: e.WS_MAX_PENDING_PONGS,
      maxConnections: e.WS_MAX_CONNECTIONS,
      maxConnectionsPerIp: e.WS_MAX_CONNECTIONS_PER_IP,
      maxConnectionsPerUser: e.WS_MAX_CONNECTIONS_PER_USER,
      admissionRate: e.WS_ADMISSION_RATE,
      admissionBurst: e.WS_ADMISSION_BURST,
      admissionRatePerIp: e.WS_ADMISSION_RATE_PER_IP,
      admissionBurstPerIp: e.WS_ADMISSION_BURST_PER_IP,
      maxNamespaces: e.WS_MAX_NAMESPACES,
      maxSubscriptions: e.WS_MAX_SUBSCRIPTIONS,
      maxSubscriptionsPerIp: e.WS_MAX_SUBSCRIPTIONS_PER_IP,
      messageRate: e.WS_MESSAGE_RATE,
      messageBurst: e.WS_MESSAGE_BURST,
      maxPendingMessages: e.WS_MAX_PENDING_MESSAGES,
      maxRejected: e.WS_MAX_REJECTED,
      maxBufferedBytes: e.WS_MAX_BUFFERED_BYTES,
      pingIntervalMs: e.WS_PING_INTERVAL_MS,
      closeTimeoutMs: e.WS_CLOSE_TIMEOUT_MS,
      trustProxy: e.TRUST_PROXY,
      allowedOrigins: e.ALLOWED_ORIGINS,
      httpMaxBodyBytes: e.HTTP_MAX_BODY_BYTES,
      httpWriteRate: e.HTTP_WRITE_RATE,
      httpWriteBurst: e.HTTP_WRITE_BURST,
      ...(e.HTTP_MAX_CONNECTIONS !== undefined ? { httpMaxConnections: e.HTTP_MAX_CONNECTIONS } : {}),
      ...(e.HTTP_MAX_CONNECTIONS_PER_IP !== undefined ? { httpMaxConnectionsPerIp: e.HTTP_MAX_CONNECTIONS_PER_IP } : {}),
      httpHeadersTimeoutMs: e.HTTP_HEADERS_TIMEOUT_MS,
    }),
    bubblemapMaxMapsPerUser: e.BUBBLEMAP_MAX_MAPS_PER_USER,
    shutdown: { spreadMs: e.SHUTDOWN_SPREAD_MS, timeoutMs: e.SHUTDOWN_TIMEOUT_MS },
    logLevel: e.LOG_LEVEL,
    logFormat: e.LOG_FORMAT,
    metrics: { mode: e.METRICS ?? (e.METRICS_TOKEN ? 'token' : 'off'), token: e.METRICS_TOKEN },
  };
}

/** Every variable and what it accepts, in the words of the error messages (docs/operations.md lists them). */
export function describeVariables(): Array<{ name: string; accepts: string }> {
  return Object.keys(Env.shape).map((name) => ({ name, accepts: acceptedBy(name) }));
}

/** What variable `name` accepts: its helper's words, an enum's values, a string's length bounds. */
function acceptedBy(name: string): string {
  let schema = Env.shape[name as keyof typeof Env.shape] as z.ZodType;
  while (schema instanceof z.ZodDefault || schema instanceof z.ZodOptional) schema = schema.unwrap() as z.ZodType;
  const words = ACCEPTS.get(schema)?.accepts;
  if (words) return words;
  if (schema instanceof z.ZodEnum) return `one of ${schema.options.join(', ')}`;
  if (schema instanceof z.ZodString) {
    const { minLength: min, maxLength: max } = schema;
    if (min !== null && max !== null) return `${min} to ${max} characters`;
    if (min !== null) return `at least ${min} characters`;
    if (max !== null) return `at most ${max} characters`;
  }
  return 'text';
}

/** One line naming the variable, the value received (never a secret's) and what it accepts. */
function problem(name: string, value: string | undefined, issue: z.core.$ZodIssue): string {
  // A custom issue says what is wrong with this value (a bad entry, a missing companion variable).
  const why = issue.code === 'custom' ? issue.message : `expected ${acceptedBy(name)}`;
  return `${name}${shown(name, value)}: ${why}`;
}

function shown(name: string, value: string | undefined): string {
  if (value === undefined) return ' (not set)';
  if (/SECRET|TOKEN|PASSWORD/.test(name) && !name.endsWith('_FILE')) return ` (${value.length} characters, not shown)`;
  // A URL's password stays out of logs.
  const safe = value.replace(/\/\/([^/@:]*):[^/@]*@/, '//$1:***@');
  return `=${JSON.stringify(safe.length > 80 ? `${safe.slice(0, 80)}…` : safe)}`;
}
