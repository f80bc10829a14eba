/**
 * Guards of the REST routes, which share the port (and the process) with the sockets: a bounded
 * request body, a rate for state-changing requests per client IP and per signed-in user, and a
 * same-origin check against cross-site forms.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { csrf } from 'hono/csrf';
import { HTTPException } from 'hono/http-exception';
import type { AppEnv } from '../types.ts';
import { KeyedBuckets } from './keyed-buckets.ts';
import type { Limits } from './limits.ts';
import { originAllowed, requestOrigin } from './origin.ts';

type RestLimits = Pick<Limits, 'httpMaxBodyBytes' | 'httpWriteRate' | 'httpWriteBurst' | 'allowedOrigins' | 'trustProxy'>;

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * A body larger than `httpMaxBodyBytes` is answered 413 before it is parsed: at once when its
 * `Content-Length` says so, else as soon as that many bytes arrived. The connection is closed
 * rather than read to the end.
 */
export function restBodyLimit(limits: Pick<Limits, 'httpMaxBodyBytes'>): MiddlewareHandler<AppEnv> {
  const maxSize = limits.httpMaxBodyBytes;
  return bodyLimit({
    maxSize,
    onError: (c) => c.json({ error: `request body larger than ${maxSize} bytes` }, 413, { connection: 'close' }),
  });
}

/**
 * State-changing requests (POST, PUT, PATCH, DELETE) take a token from the client IP's bucket
 * and, when signed in, from the user's; an empty one answers 429 with `Retry-After`. Run it
 * after the session middleware. `ipOf` is `rt.clientIp`.
 */
export function restWriteRate(limits: Pick<Limits, 'httpWriteRate' | 'httpWriteBurst'>, ipOf: (c: Context<AppEnv>) => string): MiddlewareHandler<AppEnv> {
  if (limits.httpWriteRate <= 0) {
    return async function restWriteRate(_c, next) {
      await next();
    };
  }
  const byIp = new KeyedBuckets(limits.httpWriteRate, limits.httpWriteBurst);
  const byUser = new KeyedBuckets(limits.httpWriteRate, limits.httpWriteBurst);
  return async function restWriteRate(c, next) {
    if (SAFE_METHODS.has(c.req.method)) return next();
    const ip = ipOf(c);
    const username = c.get('session')?.username;
    let retryAfter = 0;
    if (!byIp.take(ip)) retryAfter = byIp.retryAfterSeconds(ip);
    else if (username !== undefined && !byUser.take(username)) retryAfter = byUser.retryAfterSeconds(username);
    if (retryAfter > 0) return c.json({ error: 'too many requests; retry later' }, 429, { 'retry-after': String(retryAfter) });
    await next();
  };
}

/**
 * Cross-site request forgery: a state-changing request that a form or a simple request of
 * another site can make (form and text content types) must come from the server's own origin or
 * an allowed one (`ALLOWED_ORIGINS`), judged by `Sec-Fetch-Site` or `Origin` (hono's `csrf`).
 * A request with neither header is not from a browser (no ambient cookie to abuse) and passes,
 * as upgrades do. JSON requests need a CORS preflight, which this server never grants.
 */
export function restSameOrigin(limits: Pick<Limits, 'allowedOrigins' | 'trustProxy'>): MiddlewareHandler<AppEnv> {
  const check = csrf({
    origin: (origin, c) => originAllowed(origin, requestOrigin(c as Context<AppEnv>, limits.trustProxy), limits.allowedOrigins),
  });
  return async function restSameOrigin(c, next) {
    if (SAFE_METHODS.has(c.req.method) || (c.req.header('origin') === undefined && c.req.header('sec-fetch-site') === undefined)) return next();
    let passed = false;
    try {
      await check(c, () => ((passed = true), next()));
    } catch (err) {
      // csrf refuses by throwing a bare 403 before calling next: answer it as every REST error is.
      if (passed || !(err instanceof HTTPException)) throw err;
      return c.json({ error: 'cross-site request refused' }, 403);
    }
  };
}

/** The three guards, in order, for `app.use('*', ...restGuards(limits, rt.clientIp))` after the session middleware. */
export function restGuards(limits: RestLimits, ipOf: (c: Context<AppEnv>) => string): MiddlewareHandler<AppEnv>[] {
  return [restSameOrigin(limits), restBodyLimit(limits), restWriteRate(limits, ipOf)];
}
