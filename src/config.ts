/**
 * Every setting of the app, read from the environment and validated by zod. A bad value stops
 * start-up with a message that names the variable and what it expects.
 */
import { z } from 'zod';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'expected true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const int = (min: number, max: number) =>
  z.coerce.number({ message: 'expected a number' }).int('expected a whole number').min(min).max(max);

/**
 * `USER_ROLES`: roles granted by configuration, never by the client.
 * Format `alice:admin,editor;bob:editor`.
 */
const userRoles = z
  .string()
  .transform((spec, ctx) => {
    const out: Record<string, string[]> = {};
    for (const entry of spec.split(';').map((s) => s.trim()).filter(Boolean)) {
      const [user, roles] = entry.split(':');
      if (!user || roles === undefined) {
        ctx.addIssue({ code: 'custom', message: `expected user:role,role;user:role (got "${entry}")` });
        return z.NEVER;
      }
      out[user.trim()] = roles.split(',').map((r) => r.trim()).filter(Boolean);
    }
    return out;
  });

const Env = z.object({
  PORT: int(0, 65535).default(3000),
  HOST: z.string().min(1).optional(),
  SESSION_SECRET: z.string().min(32, 'expected at least 32 characters').optional(),
  USER_ROLES: userRoles.default({}),
  COOKIE_SECURE: bool.default(false),
  REDIS_URL: z.string().regex(/^rediss?:\/\//, 'expected a redis:// or rediss:// URL').optional(),
  REDIS_PREFIX: z.string().min(1).max(64).default('hns:'),
  WS_MAX_PAYLOAD: int(128, 16 * 1024 * 1024).default(64 * 1024),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOG_FORMAT: z.enum(['auto', 'json', 'pretty']).default('auto'),
  METRICS: z.enum(['off', 'token', 'public']).optional(),
  METRICS_TOKEN: z.string().min(16, 'expected at least 16 characters').optional(),
}).superRefine((e, ctx) => {
  if (e.METRICS === 'token' && !e.METRICS_TOKEN) {
    ctx.addIssue({ code: 'custom', path: ['METRICS_TOKEN'], message: 'required when METRICS=token' });
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
  /** Undefined: a random secret is generated at start (sessions do not survive a restart). */
  sessionSecret: string | undefined;
  userRoles: Record<string, string[]>;
  cookieSecure: boolean;
  redisUrl: string | undefined;
  redisPrefix: string;
  maxPayload: number;
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
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = Env.safeParse(present);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `- ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  return {
    port: e.PORT,
    host: e.HOST,
    sessionSecret: e.SESSION_SECRET,
    userRoles: e.USER_ROLES,
    cookieSecure: e.COOKIE_SECURE,
    redisUrl: e.REDIS_URL,
    redisPrefix: e.REDIS_PREFIX,
    maxPayload: e.WS_MAX_PAYLOAD,
    logLevel: e.LOG_LEVEL,
    logFormat: e.LOG_FORMAT,
    metrics: { mode: e.METRICS ?? (e.METRICS_TOKEN ? 'token' : 'off'), token: e.METRICS_TOKEN },
  };
}
