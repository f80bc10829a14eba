/**
 * A bench-only prototype of issue 17's first candidate: the session read of `src/ws/auth/session.ts`
 * with our own HS256 tokens verified synchronously by `node:crypto` (an HMAC over a `KeyObject`
 * made once per process) instead of hono/jwt's WebCrypto `verify`, and a middleware that does not
 * await a read that need not be asynchronous. Tokens are the same (signed by hono/jwt's `sign`),
 * so a cookie issued by either reads the same. `BENCH_SESSION=fast` puts it in the bench server;
 * `bench/micro.ts` compares the two reads alone.
 *
 * What it checks, like hono/jwt's `verify(token, key, 'HS256')`: three parts; a header with
 * `alg: 'HS256'`, `typ` absent or JWT, no `crit`; the signature; `nbf`, `exp`, `iat` when present.
 * Unlike it, the signature is checked before any JSON is parsed, and only in its canonical
 * unpadded form (43 characters, compared in constant time with the one we compute).
 */
import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import type { SessionUser } from '../../src/ws/ctx.ts';
import { createSessions, rolesOf, type SessionOptions, type Sessions } from '../../src/ws/auth/session.ts';
import type { AppEnv } from '../../src/ws/types.ts';

const HS256_SIGNATURE_CHARS = 43;

function decodePart(part: string): unknown {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** The payload of a valid HS256 token signed with `key`; null for anything else. Never throws. */
export function verifyHs256(token: string, key: KeyObject, nowSeconds = Math.floor(Date.now() / 1000)): Record<string, unknown> | null {
  const first = token.indexOf('.');
  const last = token.lastIndexOf('.');
  if (first <= 0 || last === first || token.indexOf('.', first + 1) !== last) return null;
  const signature = token.slice(last + 1);
  if (signature.length !== HS256_SIGNATURE_CHARS) return null;
  const signed = token.slice(0, last);
  const given = Buffer.from(signature, 'utf8');
  const expected = Buffer.from(createHmac('sha256', key).update(signed).digest('base64url'), 'utf8');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  let header: unknown;
  let payload: unknown;
  try {
    header = decodePart(token.slice(0, first));
    payload = decodePart(token.slice(first + 1, last));
  } catch {
    return null;
  }
  if (typeof header !== 'object' || header === null || typeof payload !== 'object' || payload === null) return null;
  const h = header as Record<string, unknown>;
  if (h.alg !== 'HS256' || 'crit' in h) return null;
  if ('typ' in h && !(typeof h.typ === 'string' && h.typ.toLowerCase().replace(/^application\//, '') === 'jwt')) return null;
  const p = payload as Record<string, unknown>;
  if (p.nbf !== undefined && !(isNumber(p.nbf) && p.nbf <= nowSeconds)) return null;
  if (p.exp !== undefined && !(isNumber(p.exp) && p.exp > nowSeconds)) return null;
  if (p.iat !== undefined && !(isNumber(p.iat) && p.iat <= nowSeconds)) return null;
  return p;
}

/** `createSessions` with a synchronous read; `issue` and `clear` are the real ones. */
export function createFastSessions(options: SessionOptions): Sessions & { readSync(token: string | undefined): SessionUser | null } {
  const real = createSessions(options);
  const { userRoles = {}, cookieName = 'session' } = options;
  const key = createSecretKey(Buffer.from(options.secret, 'utf8'));
  function readSync(token: string | undefined): SessionUser | null {
    if (!token) return null;
    const payload = verifyHs256(token, key);
    if (!payload || typeof payload.sub !== 'string') return null;
    return {
      username: payload.sub,
      firstName: typeof payload.fn === 'string' ? payload.fn : '',
      lastName: typeof payload.ln === 'string' ? payload.ln : '',
      roles: rolesOf(userRoles, payload.sub),
    };
  }
  const middleware: MiddlewareHandler<AppEnv> = function session(c, next) {
    const auth = c.req.header('authorization');
    const bearer = auth?.startsWith('Bearer ') ? auth.slice(7).trim() : undefined;
    c.set('session', readSync(bearer ?? getCookie(c, cookieName)));
    return next();
  };
  return { ...real, middleware, read: async (token) => readSync(token), readSync };
}
