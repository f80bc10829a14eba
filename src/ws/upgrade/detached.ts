/**
 * What a socket keeps of its upgrade request. `upgradeWebSocket` of `@hono/node-server` captures
 * the context it is handed, and the adapter's `env` object, in closures that live as long as the
 * socket: given the Hono Context, every connection would keep its request, headers and
 * IncomingMessage alive (about 4 KiB each, measured with heap snapshots). It is handed a stand-in
 * instead, with only what it reads (the `upgrade` header, the URL and `env`, through which it
 * waits for the socket), emptied once the socket is open.
 */
import type { Context } from 'hono';

/** The request part of the stand-in: what `upgradeWebSocket` reads (a class, so no closure per socket). */
class StandInRequest {
  readonly #upgrade: string | undefined;

  constructor(
    readonly url: string,
    upgrade: string | undefined,
  ) {
    this.#upgrade = upgrade;
  }

  header(name: string): string | undefined {
    return name.toLowerCase() === 'upgrade' ? this.#upgrade : undefined;
  }
}

/** A stand-in context for `upgradeWebSocket(standIn.context, events)`; call `detach()` when the socket opens. */
export class DetachedUpgrade {
  req: StandInRequest | undefined;
  env: { incoming?: unknown } | undefined;

  /** Nothing here may refer to the Hono Context: it would stay alive as long as the socket. */
  constructor(c: Context) {
    this.req = new StandInRequest(c.req.url, c.req.header('upgrade'));
    this.env = c.env as { incoming?: unknown };
  }

  /** What to hand `upgradeWebSocket` as its context. */
  get context(): Context {
    return this as unknown as Context;
  }

  /** Read by `upgradeWebSocket` up to the open; from then on nothing needs the request. */
  detach(): void {
    // The adapter's env object is captured by upgradeWebSocket for the socket's life; the
    // request it names is done with once the socket is open. Assigned, not deleted: a delete
    // would leave the objects in dictionary mode.
    if (this.env) this.env.incoming = undefined;
    this.req = undefined;
    this.env = undefined;
  }
}
