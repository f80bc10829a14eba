/**
 * Access checks of a namespace route, as middleware placed before `namespace()`.
 */
import type { MiddlewareHandler } from 'hono';
import { WsRefusal } from '../upgrade/refusal.ts';
import type { AppEnv, OnCreateFn } from '../types.ts';

export interface AccessOptions {
  /** Refuse guests with 4401. Default false. */
  requireAuth?: boolean;
  /** Refuse with 4403 unless the user has at least one of these roles (implies requireAuth). */
  requireRoles?: readonly string[];
}

/**
 * Checks the session read by the session middleware.
 * @example
 * app.get('/api/1/ws/admin/:topic', sessions.middleware, access({ requireRoles: ['admin'] }), rt.namespace({ ... }))
 */
export function access(options: AccessOptions = {}): MiddlewareHandler<AppEnv> {
  const roles = options.requireRoles ?? [];
  const requireAuth = options.requireAuth === true || roles.length > 0;
  // Plain functions returning next(): no async frame and promise of their own per connect.
  return function access(c, next) {
    const user = c.get('session');
    if (requireAuth && !user) throw WsRefusal.unauthorized('sign in to join this namespace');
    if (roles.length > 0 && !roles.some((role) => user?.roles.includes(role))) {
      throw WsRefusal.forbidden(`requires one of the roles: ${roles.join(', ')}`);
    }
    return next();
  };
}

/**
 * Adds an `onCreate` callback: it creates the connection's ctx, not the namespace. It runs on
 * every connect to the pattern (the namespace's first and every later one), after the params are
 * validated and ctx is built, so it can authorize per resource: return ctx (amended or
 * not) to accept, null to refuse with 4403. Several run in the order given.
 * @example
 * onCreate(async (c, ctx) => (await maps.canRead(ctx.params.mapId, ctx.roles)) ? ctx : null)
 */
export function onCreate(fn: OnCreateFn): MiddlewareHandler<AppEnv> {
  return function onCreate(c, next) {
    const earlier = c.get('onCreate');
    c.set('onCreate', earlier ? [...earlier, fn] : [fn]);
    return next();
  };
}
