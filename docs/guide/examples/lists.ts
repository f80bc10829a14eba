/**
 * The guide's running example: shared to-do lists, one namespace per list. Compiled by
 * `npm run typecheck` and run by `test/guide/examples.test.ts`; the guide's code blocks are
 * copied from the regions below (`test/docs.test.ts` checks that they match).
 */
import { Hono } from 'hono';
import { z } from 'zod';
import { access, GUEST_USERNAME, MessageError, onCreate, validate, type AppEnv, type Realtime } from '../../../src/ws/index.ts';

// #region store
/** An item of a list. */
export interface Item {
  id: number;
  text: string;
  done: boolean;
  by: string;
}

/** The lists, in memory: a real app keeps them in its database. */
export class Lists {
  readonly #items = new Map<string, Item[]>();

  items(listId: string): Item[] {
    return this.#items.get(listId) ?? [];
  }

  add(listId: string, text: string, by: string): Item {
    const items = this.items(listId);
    const item = { id: items.length + 1, text, done: false, by };
    this.#items.set(listId, [...items, item]);
    return item;
  }

  /** Marks an item done; undefined if there is no such item. */
  done(listId: string, id: number): Item | undefined {
    const item = this.items(listId).find((i) => i.id === id);
    if (item) item.done = true;
    return item;
  }
}
// #endregion

const ListParams = z.object({ listId: z.string().regex(/^[a-z0-9-]{1,40}$/, '1-40 lowercase letters, digits or -') });
const NewItem = z.object({ text: z.string().trim().min(1).max(200) });

export const listPath = (listId: string) => `/api/1/ws/lists/${listId}`;

/** The lists' namespace and REST routes; mount with `app.route('/', listRoutes(rt))`. */
export function listRoutes(rt: Realtime, lists = new Lists()): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  // #region namespace
  app.get(
    '/api/1/ws/lists/:listId',
    access({ requireAuth: false }), // guests may connect; { requireRoles: ['staff'] } would refuse them (4401)
    onCreate((_c, ctx) => {
      // Per resource: lists named team-* are for holders of the team role only (4403).
      if (ctx.params.listId!.startsWith('team-') && !ctx.roles.includes('team')) return null;
      return ctx;
    }),
    rt.namespace({
      params: ListParams, // an invalid list id: 4400, nothing created
      messages: {
        'item-add': NewItem,
        'item-done': z.object({ id: z.number().int().positive() }),
      },
      replay: { size: 100, maxAgeMs: 60_000 }, // a client back within a minute gets what it missed
      onConnect({ clientId, ctx }, ns) {
        ns.broadcast('joined', { clientId, username: ctx.username }, { except: clientId });
      },
      async onMessage({ ctx, message }, ns) {
        const listId = ctx.params.listId!;
        if (message.type === 'item-add') {
          const item = lists.add(listId, message.data.text, ctx.username); // kept first, then broadcast
          await ns.broadcast('item-added', item);
          return { id: item.id }; // the ack's data, when the message had an id
        }
        const item = lists.done(listId, message.data.id);
        if (!item) throw new MessageError(`no item ${message.data.id}`, 'not_found'); // an error frame; the socket stays
        await ns.broadcast('item-done', item);
        return { id: item.id };
      },
      onDisconnect({ clientId, ctx }, ns) {
        ns.broadcast('left', { clientId, username: ctx.username });
      },
    }),
  );
  // #endregion

  // #region resync
  app.get('/api/1/lists/:listId', validate('param', ListParams), async (c) => {
    const { listId } = c.req.valid('param');
    // The seq first, then the state: the state has every change the seq counts (maybe newer ones).
    const head = await rt.replayHead(listPath(listId)); // { seq, epoch }
    return c.json({ items: lists.items(listId), ...head });
  });
  // #endregion

  // #region rest-broadcast
  app.post('/api/1/lists/:listId/items', validate('param', ListParams), validate('json', NewItem), async (c) => {
    const { listId } = c.req.valid('param');
    // A REST request is made by its session's user, or by a guest: never by the server itself.
    const item = lists.add(listId, c.req.valid('json').text, c.get('session')?.username ?? GUEST_USERNAME);
    // Reaches the list's clients on every instance, whether or not the namespace lives here.
    const sent = await rt.broadcast(listPath(listId), 'item-added', item);
    return c.json({ item, sent }, 201);
  });
  // #endregion

  return app;
}
