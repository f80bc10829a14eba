/**
 * The bubble map example: one namespace per map, bubbles created, moved, edited and deleted over
 * the socket by everyone looking at the map. WS `/api/1/ws/bubblemap/:mapId`; REST
 * `GET|POST /api/1/bubblemap` (list, create), `GET /api/1/bubblemap/:mapId` (full state with its
 * replay seq, the resync) and `DELETE /api/1/bubblemap/:mapId`. See docs/examples/bubblemap.md.
 *
 * Access at two levels: the map (`requiredRoles`, checked once at connect in `onCreate`) and the
 * bubble (only its creator or an `editor` may change it, checked per message in `onMessage`).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { BOARD, BubbleColor, MapId, QuotaError, StoreFullError, type Bubble, type BubbleChange, type MapInfo, type MapStore } from './store.ts';
import type { Logger } from '../../log.ts';
import { access, MessageError, onCreate, validate, WsRefusal, type AppEnv, type Ctx, type Realtime } from 'hono-namespaces';

/** May change any bubble of a map they can open. */
export const EDITOR_ROLE = 'editor';
/** May delete any map. */
export const ADMIN_ROLE = 'admin';

export const BUBBLEMAP_PATTERN = '/api/1/ws/bubblemap/:mapId';
/** A reconnecting client gets the map's last 200 changes of the last 5 minutes replayed; beyond, it resyncs. */
export const BUBBLEMAP_REPLAY = { size: 200, maxAgeMs: 300_000 };
export const bubblemapPath = (mapId: string) => `/api/1/ws/bubblemap/${mapId}`;

const MapParams = z.object({ mapId: MapId });
const Role = z.string().regex(/^[A-Za-z0-9_.-]{1,32}$/, 'roles are 1-32 letters, digits, _ . or -');
const NewMap = z.object({
  title: z.string({ error: 'a map needs a title' }).trim().min(1, 'a map needs a title').max(80),
  requiredRoles: z.array(Role).max(10).default([]),
});

const BubbleId = z.string().regex(/^[A-Za-z0-9-]{1,64}$/, 'not a bubble id');
const Text = z.string().trim().min(1, 'a bubble needs some text').max(280);
const X = z.number().finite().min(0).max(BOARD.width);
const Y = z.number().finite().min(0).max(BOARD.height);

// #region messages
/** The messages of a map's namespace, validated before `onMessage` sees them. */
export const BubbleMessages = {
  'bubble-create': z.strictObject({ x: X, y: Y, text: Text, color: BubbleColor.default('yellow') }),
  'bubble-update': z.strictObject({
    id: BubbleId,
    updates: z
      .strictObject({ x: X.optional(), y: Y.optional(), text: Text.optional(), color: BubbleColor.optional() })
      .refine((u) => Object.values(u).some((v) => v !== undefined), 'nothing to update'),
  }),
  'bubble-delete': z.strictObject({ id: BubbleId }),
};
// #endregion

/** Whether a user with `roles` may open the map. */
export function mayOpen(map: MapInfo, roles: readonly string[]): boolean {
  return map.requiredRoles.length === 0 || map.requiredRoles.some((role) => roles.includes(role));
}

// #region bubble-access
/** Whether the connection may change this bubble: its creator, or an editor. */
export function mayChangeBubble(ctx: Ctx, bubble: Bubble): boolean {
  return bubble.createdBy === ctx.username || ctx.roles.includes(EDITOR_ROLE);
}
// #endregion

const REFUSED: Record<Exclude<BubbleChange, { ok: true }>['reason'], [string, string]> = {
  no_map: ['not_found', 'this map no longer exists'],
  not_found: ['not_found', 'no such bubble on this map'],
  forbidden: ['forbidden', 'only its creator or an editor may change this bubble'],
  full: ['map_full', 'this map holds its maximum of bubbles'],
};

export interface BubblemapOptions {
  store: MapStore;
  log: Logger;
  /** Most maps one user may hold at once; creating one more answers 403. Default 20. */
  maxMapsPerUser?: number;
}

export function bubblemapRoutes(rt: Realtime, { store, log, maxMapsPerUser = 20 }: BubblemapOptions) {
  // #region change
  /** A store call from a handler: its outcome, or a refusal the client can act on. */
  async function change(pending: Promise<BubbleChange>): Promise<Extract<BubbleChange, { ok: true }>> {
    let result: BubbleChange;
    try {
      result = await pending;
    } catch (err) {
      log.warn({ err: String(err) }, 'bubblemap store failed');
      throw new MessageError('the map store is unavailable; try again', 'unavailable');
    }
    if (!result.ok) throw new MessageError(REFUSED[result.reason][1], REFUSED[result.reason][0]);
    return result;
  }
  // #endregion

  /** A store read (map or replay) from a REST handler or `onCreate`: a failure is a retryable 503. */
  async function read<T>(pending: Promise<T>): Promise<T> {
    try {
      return await pending;
    } catch (err) {
      log.warn({ err: String(err) }, 'bubblemap store failed');
      throw WsRefusal.unavailable('the map store is unavailable; try again');
    }
  }

  /** The map a signed-in user asks for over REST, or the error response. */
  async function visibleMap(c: Context<AppEnv>, mapId: string): Promise<MapInfo | Response> {
    const user = c.get('session');
    if (!user) return c.json({ error: 'sign in to open maps' }, 401);
    const map = await read(store.getMap(mapId));
    if (!map) return c.json({ error: 'no such map' }, 404);
    if (!mayOpen(map, user.roles)) return c.json({ error: `this map requires one of the roles: ${map.requiredRoles.join(', ')}` }, 403);
    return map;
  }

  return new Hono<AppEnv>()
    .get(
      BUBBLEMAP_PATTERN,
      // #region map-access
      access({ requireAuth: true }),
      onCreate(async function mapAccess(_c, ctx) {
        const map = await read(store.getMap(ctx.params.mapId!));
        if (!map) throw WsRefusal.notFound('no such map');
        if (!mayOpen(map, ctx.roles)) throw WsRefusal.forbidden(`this map requires one of the roles: ${map.requiredRoles.join(', ')}`);
        return ctx;
      }),
      // #endregion
      rt.namespace({
        params: MapParams,
        messages: BubbleMessages,
        replay: BUBBLEMAP_REPLAY,
        // #region on-message
        async onMessage({ ctx, message }, ns) {
          const mapId = ctx.params.mapId!;
          const username = ctx.username;
          const may = (bubble: Bubble) => mayChangeBubble(ctx, bubble);
          const now = new Date().toISOString();
          // Broadcasts are not awaited: they never reject, and the framework holds the ack until
          // each is sequenced and published (an `unavailable` error instead if one could not be:
          // the change is stored, and clients get it at their next resync).
          switch (message.type) {
            case 'bubble-create': {
              const bubble: Bubble = { id: randomUUID(), ...message.data, createdBy: username, createdAt: now, updatedAt: now };
              const { version } = await change(store.createBubble(mapId, bubble));
              void ns.broadcast('bubble-created', { bubble, username, version });
              return { id: bubble.id, version };
            }
            case 'bubble-update': {
              const { bubble, version } = await change(store.updateBubble(mapId, message.data.id, message.data.updates, now, may));
              void ns.broadcast('bubble-updated', { bubble, username, version });
              return { id: bubble.id, version };
            }
            case 'bubble-delete': {
              const { bubble, version } = await change(store.deleteBubble(mapId, message.data.id, may));
              void ns.broadcast('bubble-deleted', { id: bubble.id, username, version });
              return { id: bubble.id, version };
            }
          }
        },
        // #endregion
      }),
    )
    .get('/api/1/bubblemap', async (c) => {
      const user = c.get('session');
      if (!user) return c.json({ error: 'sign in to list maps' }, 401);
      const maps = await read(store.listMaps(100));
      return c.json({ maps: maps.filter((map) => mayOpen(map, user.roles)) });
    })
    .post('/api/1/bubblemap', validate('json', NewMap), async (c) => {
      const user = c.get('session');
      if (!user) return c.json({ error: 'sign in to create maps' }, 401);
      const { title, requiredRoles } = c.req.valid('json');
      const roles = [...new Set(requiredRoles)];
      const map: MapInfo = { id: randomBytes(9).toString('base64url'), title, requiredRoles: roles, createdBy: user.username, createdAt: new Date().toISOString() };
      if (!mayOpen(map, user.roles)) return c.json({ error: 'you would be unable to open this map: require a role you hold' }, 400);
      try {
        // 72 random bits: a taken id means a broken random source, not bad luck.
        if (!(await store.createMap(map, maxMapsPerUser))) throw new Error(`map id ${map.id} already taken`);
      } catch (err) {
        if (err instanceof StoreFullError) return c.json({ error: err.message }, 507);
        // One user cannot fill the store for everyone.
        if (err instanceof QuotaError) return c.json({ error: err.message }, 403);
        log.warn({ err: String(err) }, 'bubblemap store failed');
        return c.json({ error: 'the map store is unavailable; try again' }, 503);
      }
      return c.json({ map }, 201);
    })
    // #region resync
    .get('/api/1/bubblemap/:mapId', validate('param', MapParams), async (c) => {
      const found = await visibleMap(c, c.req.valid('param').mapId);
      if (found instanceof Response) return found;
      // The seq is read before the state: every change it counts is in the state (each is stored
      // before it is broadcast). Newer ones may be there too: the client drops their live copies
      // by seq, the page by version.
      const head = await read(rt.replayHead(bubblemapPath(found.id)));
      const state = await read(store.state(found.id));
      if (!state) return c.json({ error: 'no such map' }, 404);
      return c.json({ ...state, ...head });
    })
    // #endregion
    // #region delete-map
    .delete('/api/1/bubblemap/:mapId', validate('param', MapParams), async (c) => {
      const found = await visibleMap(c, c.req.valid('param').mapId);
      if (found instanceof Response) return found;
      const user = c.get('session')!;
      if (found.createdBy !== user.username && !user.roles.includes(ADMIN_ROLE)) {
        return c.json({ error: 'only its creator or an admin may delete a map' }, 403);
      }
      await read(store.deleteMap(found.id));
      try {
        await rt.removeNamespaceEverywhere(bubblemapPath(found.id));
      } catch (err) {
        // Deleted all the same: clients left on other instances get `not_found` for every change.
        log.warn({ err: String(err), mapId: found.id }, 'map deleted, but other instances could not be told to close its namespace');
      }
      return c.body(null, 204);
    });
    // #endregion
}
