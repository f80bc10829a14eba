/**
 * What a socket keeps of its upgrade request. `@hono/node-ws` captures the context it is handed
 * in the closures that live as long as the socket: given the Hono Context, every connection would
 * keep its request, headers and IncomingMessage alive (about 4 KiB each, measured with heap
 * snapshots). It is handed a stand-in instead, with only what it reads (the `upgrade` header, the
 * URL and `env`, where it marks the request as upgraded), emptied once the socket is open.
 */
import type { Context } from 'hono';
import type { WSEvents } from 'hono/ws';

/** A stand-in context for `upgradeWebSocket(context, events)`, and the events to pass with it. */
export function detachedUpgrade<T>(c: Context, events: WSEvents<T>): { context: Context; events: WSEvents<T> } {
  // No closure here may refer to `c`: it would keep the whole context alive through `onOpen`.
  const standIn = standInFor(c.req.url, c.req.header('upgrade'), c.env);
  const onOpen = events.onOpen;
  return {
    context: standIn as unknown as Context,
    events: {
      ...events,
      onOpen(event, ws) {
        // Read by @hono/node-ws up to the open; from here on nothing needs the request.
        // (Assigned, not deleted: a delete would leave the object in dictionary mode.)
        standIn.req = undefined;
        standIn.env = undefined;
        onOpen?.(event, ws);
      },
    },
  };
}

interface StandIn {
  req: { url: string; header(name: string): string | undefined } | undefined;
  env: unknown;
}

function standInFor(url: string, upgrade: string | undefined, env: unknown): StandIn {
  return { req: { url, header: (name) => (name.toLowerCase() === 'upgrade' ? upgrade : undefined) }, env };
}
