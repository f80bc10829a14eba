/**
 * A direct connection: one socket to one namespace path, one member.
 *
 * It is one object, which is its namespace's `Client` (a `NamespaceMember`) and the `WSEvents`
 * handed to `upgradeWebSocket` (it calls them as methods): thousands of idle sockets must cost
 * little, so there are no closures per connection and its rate limit is built at its first message.
 */
import type { WSContext } from 'hono/ws';
import type { WebSocket } from 'ws';
import { CloseCode } from '../protocol/codes.ts';
import type { Ctx } from './ctx.ts';
import { NamespaceMember, type MemberHost, type MemberRoute } from './member.ts';
import { InboundGate } from './safety/inbound.ts';
import { closeReason } from './wire/framing.ts';

/** Something to let go of once the socket is open (the upgrade's stand-in context). */
export interface Detachable {
  detach(): void;
}

/** One accepted socket of one namespace. */
export class Connection extends NamespaceMember {
  #gate: InboundGate | undefined;
  #upgrade: Detachable | undefined;

  constructor(host: MemberHost, route: MemberRoute, path: string, pattern: string, params: Record<string, string>, ctx: Ctx, upgrade?: Detachable) {
    super(host, route, path, pattern, params, ctx);
    this.#upgrade = upgrade;
  }

  get tagged(): boolean {
    return false;
  }

  end(code: number, reason: string): void {
    this.socket.close(code, closeReason(reason));
  }

  onOpen(_event: Event, ws: WSContext<unknown>): void {
    this.#upgrade?.detach();
    this.#upgrade = undefined;
    this.join(ws.raw as WebSocket);
  }

  onMessage(event: MessageEvent, ws: WSContext<unknown>): void {
    if (!this.namespace) return;
    // Judged on arrival, before parsing or queueing, so a flood costs as little as possible.
    const verdict = (this.#gate ??= new InboundGate(this.limits)).admit(this.pending);
    if (verdict === 'abusive') ws.close(CloseCode.POLICY_VIOLATION, 'message rate limit exceeded');
    else if (verdict === 'limited') this.rateLimited();
    else this.receive(event.data);
  }

  onClose(event: CloseEvent): void {
    void this.leave(event.code, event.reason);
  }

  onError(event: Event): void {
    this.line('debug', { err: (event as ErrorEvent).error }, 'socket error');
  }
}
