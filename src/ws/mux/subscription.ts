/**
 * One subscription of a multiplexed socket: a member of its namespace like a direct connection
 * (its own clientId, welcome, replay position, presence membership, handlers), whose frames carry
 * its path and whose end is an `unsubscribed` frame for that path, not the socket's close.
 */
import type { Ctx } from '../ctx.ts';
import { NamespaceMember, type MemberHost, type MemberRoute } from '../member.ts';

/** The socket side of a subscription: told when the namespace ends it. */
export interface SubscriptionOwner {
  /** The namespace ended `sub` (removed: 4410; a replay hold that overflowed: 1013; shutdown). */
  ended(sub: Subscription, code: number, reason: string): void;
}

export class Subscription extends NamespaceMember {
  readonly #owner: SubscriptionOwner;

  constructor(host: MemberHost, route: MemberRoute, path: string, pattern: string, params: Record<string, string>, ctx: Ctx, owner: SubscriptionOwner) {
    super(host, route, path, pattern, params, ctx);
    this.#owner = owner;
  }

  get tagged(): boolean {
    return true;
  }

  end(code: number, reason: string): void {
    this.#owner.ended(this, code, reason);
  }
}
