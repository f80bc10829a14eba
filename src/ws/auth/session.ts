/**
 * Signed sessions: an HS256 JWT (hono/jwt) carried in an HttpOnly cookie, or in an
 * `Authorization: Bearer` header for non-browser clients. The secret is shared by all instances.
 * Roles are not in the token: they come from configuration when the session is read, so that a
 * client can never grant itself a role and a configuration change takes effect at once.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { sign, verify } from 'hono/jwt';
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
  issue(c: Context, user: Omit<SessionUser, 'roles'>): Promise<string>;
  /** Clears the session cookie. */
  clear(c: Context): void;
  /** Reads a token; null if missing, tampered with or expired. */
  read(token: string | undefined): Promise<SessionUser | null>;
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
  // Imported once: given the secret as a string, hono/jwt imports a key on every sign and verify,
  // a tenth of the CPU time of a connect.
  const key = crypto.subtle.importKey('raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);

  async function read(token: string | undefined): Promise<SessionUser | null> {
    if (!token) return null;
    try {
      const payload = await verify(token, await key, 'HS256');
      if (typeof payload.sub !== 'string') return null;
      return {
        username: payload.sub,
        firstName: typeof payload.fn === 'string' ? payload.fn : '',
        lastName: typeof payload.ln === 'string' ? payload.ln : '',
        roles: rolesOf(userRoles, payload.sub),
      };
    } catch {
      // Tampered, expired or malformed: the request is a guest, never an error.
      return null;
    }
  }

  return {
    middleware: async function session(c, next) {
      const auth = c.req.header('authorization');
      const bearer = auth?.startsWith('Bearer ') ? auth.slice(7).trim() : undefined;
      c.set('session', await read(bearer ?? getCookie(c, cookieName)));
      await next();
    },
    async issue(c, user) {
      const now = Math.floor(Date.now() / 1000);
      const token = await sign(
        { sub: user.username, fn: user.firstName, ln: user.lastName, iat: now, exp: now + ttlSeconds },
        await key,
        'HS256',
      );
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
