/**
 * How a multiplexed socket's `subscribe` runs the same route as a direct connect: it calls the
 * app's own fetch with a GET of the path and a marker in `env`. The namespace route, seeing the
 * marker instead of an upgrade, builds the member (params, ctx, `onCreate`) and hands it to the
 * marker; a refusal on the way comes back as the error handler's response.
 */
import type { Context } from 'hono';
import type { Ctx } from '../ctx.ts';
import type { MemberRoute } from '../member.ts';

/** What the namespace route hands a subscription: everything a direct connect would build. */
export interface SubscriptionMarker {
  accept(route: MemberRoute, path: string, pattern: string, params: Record<string, string>, ctx: Ctx): void;
}

/** The `env` of a subscribe request: the socket's own address (as the client IP reads it) and the marker. */
export interface SubscriptionEnv {
  incoming: { socket: { remoteAddress: string }; headers: Record<string, never> };
  subscription: SubscriptionMarker;
}

/** The marker of a subscribe request, or undefined for any other request. */
export function subscriptionOf(c: Context): SubscriptionMarker | undefined {
  return (c.env as Partial<SubscriptionEnv> | undefined)?.subscription;
}
