/**
 * Signed sessions: an HS256 JWT carried in an HttpOnly cookie, or in an `Authorization: Bearer`
 * header for non-browser clients. The secret is shared by all instances.
 * Roles are not in the token: they come from configuration when the session is read, so that a
 * client can never grant itself a role and a configuration change takes effect at once.
 *
 * Tokens are signed and verified by fast-jwt with node:crypto's HMAC, synchronously: every
 * WebSocket connect reads a session, and WebCrypto's asynchronous HMAC (a job on libuv's pool and
 * a promise for 32 bytes) was a fifth of a connect's CPU (docs/performance.md, issue 17).
 */
import { createSigner, createVerifier } from 'fast-jwt';
import type { Context, MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { SessionUser } from '../ctx.ts';
import type { AppEnv } from '../types.ts';

export interface SessionOptions {
  /** HMAC secret (at least 32 characters). */
  secret: string;
  /** Roles per username, from configuration. Default: none. */
  userRoles?: Readonly<Record<string, readonly string[]>>;
  /** Cookie name. Default `session`. */
  cookieName?: string;
  /** Lifetime of a session in seconds. Default 7 days. */
  ttlSeconds?: number;
  /** Set the cookie's Secure flag (behind https). Default false. */
  secureCookie?: boolean;
}

export interface Sessions {
  /** Middleware that reads the session into `c.var.session` (null for a guest). Never refuses. */
  middleware: MiddlewareHandler<AppEnv>;
  /** Signs a session for `user`, sets the cookie, and returns the token (for bearer use). */
  issue(c: Context, user: Omit<SessionUser, 'roles'>): string;
  /** Clears the session cookie. */
  clear(c: Context): void;
  /** Reads a token; null if missing, tampered with, expired or not yet valid. */
  read(token: string | undefined): SessionUser | null;
}

/**
 * The configured roles of `username`. Own keys only: a user named `constructor` or `toString`
 * must not get the functions of `Object.prototype` as roles.
 */
export function rolesOf(userRoles: Readonly<Record<string, readonly string[]>>, username: string): readonly string[] {
  return Object.hasOwn(userRoles, username) ? userRoles[username]! : [];
}

/** Creates the session reader and writer. */
export function createSessions(options: SessionOptions): Sessions {
  const { secret, userRoles = {}, cookieName = 'session', ttlSeconds = 7 * 24 * 3600, secureCookie = false } = options;
  const sign = createSigner({ key: secret, algorithm: 'HS256', expiresIn: ttlSeconds * 1000 });
  // HS256 only (no `none`, no other algorithm a forged header names); every token we issue has
  // an expiry, so one without is not ours. No cache: a read is ~15 µs, and a cache keyed by token
  // is one more thing to get right.
  const verify = createVerifier({ key: secret, algorithms: ['HS256'], requiredClaims: ['sub', 'exp'] });

  function read(token: string | undefined): SessionUser | null {
    if (!token) return null;
    let payload: Record<string, unknown>;
    try {
      payload = verify(token);
    } catch {
      // Tampered, expired or malformed: the request is a guest, never an error.
      return null;
    }
    if (typeof payload.sub !== 'string') return null;
    return {
      username: payload.sub,
      firstName: typeof payload.fn === 'string' ? payload.fn : '',
      lastName: typeof payload.ln === 'string' ? payload.ln : '',
      roles: rolesOf(userRoles, payload.sub),
    };
  }

  return {
    middleware: function session(c, next) {
      const auth = c.req.header('authorization');
      const bearer = auth?.startsWith('Bearer ') ? auth.slice(7).trim() : undefined;
      c.set('session', read(bearer ?? getCookie(c, cookieName)));
      return next();
    },
    issue(c, user) {
      const token = sign({ sub: user.username, fn: user.firstName, ln: user.lastName });
      setCookie(c, cookieName, token, {
        httpOnly: true,
        sameSite: 'Lax',
        secure: secureCookie,
        path: '/',
        maxAge: ttlSeconds,
      });
      return token;
    },
    clear(c) {
      deleteCookie(c, cookieName, { path: '/', secure: secureCookie });
    },
    read,
  };
}
