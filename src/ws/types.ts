import type { Context } from 'hono';
import type { IncomingMessage } from 'node:http';
import type { Ctx, SessionUser } from './ctx.ts';

/**
 * Called on every connect (not only the one that creates the namespace), after params
 * validation, with the Hono context and the built ctx.
 * Return ctx (amended or not) to accept, or null to refuse with 4403.
 */
export type OnCreateFn = (
  c: Context<AppEnv>,
  ctx: Ctx,
) => Ctx | null | undefined | Promise<Ctx | null | undefined>;

/** Hono environment of every route of the app. */
export interface AppEnv {
  Bindings: { incoming: IncomingMessage };
  Variables: {
    /** The signed-in user, or null for a guest (set by the session middleware). */
    session: SessionUser | null;
    /** onCreate callbacks collected by `onCreate()`, run by the namespace in order. */
    onCreate: OnCreateFn[];
  };
}
