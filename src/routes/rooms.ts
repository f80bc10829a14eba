/**
 * Dynamic Rooms, the reference app: one namespace per chat room.
 * WS `/api/1/ws/hello-rooms/:roomName`; REST `/api/1/rooms`, `/api/1/rooms/:roomName` (resync)
 * and `POST /api/1/rooms/:roomName/messages`.
 *
 * A room's chat history is its namespace's log: a chat is accepted once it is sequenced, logged
 * and published (then the sender gets its ack, or its 201), and the REST state reads the same log,
 * so a client told `gap` that resyncs loses nothing replay would have given it.
 */
import { randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import { z } from 'zod';
import { access } from '../ws/access.ts';
import { GUEST_USERNAME } from '../ws/ctx.ts';
import type { Realtime } from '../ws/realtime.ts';
import { validate } from '../ws/rest.ts';
import type { AppEnv } from '../ws/types.ts';

/** Rooms the demo offers; any other valid name works too. */
export const DEFAULT_ROOMS = ['Amsterdam', 'Berlin', 'Cairo'] as const;

export const RoomName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$/, 'room names are 1-40 letters, digits, _ or -, starting with a letter or digit');

const RoomParams = z.object({ roomName: RoomName });
const Chat = z.object({ text: z.string({ error: 'a message needs its text' }).trim().min(1, 'empty message').max(2000) });

export const ROOM_PATTERN = '/api/1/ws/hello-rooms/:roomName';
const ROOM_PREFIX = '/api/1/ws/hello-rooms/';
export const roomPath = (room: string) => `${ROOM_PREFIX}${room}`;

/** The room's log: the last 200 chats of the last 5 minutes are replayed, and shown by the REST state. */
export const ROOM_REPLAY = { size: 200, maxAgeMs: 300_000 };

/** A chat message as broadcast (`chat`), logged and listed by the REST state. */
export interface ChatMessage {
  id: string;
  username: string;
  text: string;
  /** ISO time the server accepted it. */
  at: string;
}

export function roomsRoutes(rt: Realtime) {
  function chat(username: string, text: string): ChatMessage {
    return { id: randomUUID(), username, text, at: new Date().toISOString() };
  }

  async function memberCount(path: string): Promise<number> {
    return (await rt.presence.counts([path])).get(path) ?? 0;
  }

  return new Hono<AppEnv>()
    .get(
      ROOM_PATTERN,
      access({ requireAuth: false }),
      rt.namespace({
        params: RoomParams,
        messages: { chat: Chat },
        replay: ROOM_REPLAY,
        // Joins and leaves are volatile: they take no seq and no room in the log, and a client
        // that missed one learns the members from the REST state.
        async onConnect({ clientId, ctx }, ns) {
          const count = await memberCount(ns.path);
          void ns.broadcast('joined', { clientId, username: ctx.username, count }, { except: clientId, volatile: true });
        },
        onMessage({ ctx, message }, ns) {
          // Not awaited: the ack waits for it anyway, and is an `unavailable` error if it failed.
          const sent = chat(ctx.username, message.data.text);
          void ns.broadcast('chat', sent);
          return { id: sent.id };
        },
        async onDisconnect({ clientId, ctx }, ns) {
          const count = await memberCount(ns.path);
          void ns.broadcast('left', { clientId, username: ctx.username, count }, { volatile: true });
        },
      }),
    )
    .get('/api/1/rooms', async (c) => {
      // The default rooms, and every room with members on any instance.
      const names = new Set<string>(DEFAULT_ROOMS);
      for (const path of await rt.presence.paths()) {
        const name = path.startsWith(ROOM_PREFIX) ? path.slice(ROOM_PREFIX.length) : undefined;
        if (name !== undefined && RoomName.safeParse(name).success) names.add(name);
      }
      const counts = await rt.presence.counts([...names].map(roomPath));
      const rooms = [...names]
        .map((name) => ({ name, members: counts.get(roomPath(name)) ?? 0 }))
        .filter((room) => room.members > 0 || (DEFAULT_ROOMS as readonly string[]).includes(room.name));
      return c.json({ rooms });
    })
    .get('/api/1/rooms/:roomName', validate('param', RoomParams), async (c) => {
      const { roomName } = c.req.valid('param');
      const path = roomPath(roomName);
      let page, members, partial;
      try {
        // The messages and the seq come from one read of the log: the state is exactly up to seq.
        [page, { members, partial }] = await Promise.all([rt.history(path, { limit: ROOM_REPLAY.size }), rt.presence.members(path)]);
      } catch (err) {
        // Without its seq or its messages the state is no resync: the client retries.
        rt.log.debug({ err: String(err), room: roomName }, 'room state unavailable');
        return c.json({ error: 'the room state is unavailable right now; try again' }, 503, { 'retry-after': '1' });
      }
      const messages = page!.entries.filter((e) => e.type === 'chat').map((e) => e.data as ChatMessage);
      // Who is in a room is shown to signed-in users; a guest gets the count, so that nobody can
      // list everyone connected without signing in.
      const shown = c.get('session') ? { members: members.map(({ clientId, username }) => ({ clientId, username })) } : {};
      return c.json({ room: roomName, seq: page!.seq, epoch: page!.epoch, count: members.length, ...shown, ...(partial ? { partial } : {}), messages });
    })
    .post(
      '/api/1/rooms/:roomName/messages',
      validate('param', RoomParams),
      validate('json', Chat),
      async (c) => {
        const { roomName } = c.req.valid('param');
        // A REST post is made by its session's user, or by a guest: never by the server itself.
        const message = chat(c.get('session')?.username ?? GUEST_USERNAME, c.req.valid('json').text);
        if (!(await rt.broadcast(roomPath(roomName), 'chat', message))) {
          return c.json({ error: 'the room cannot take messages right now; try again' }, 503, { 'retry-after': '1' });
        }
        return c.json({ message }, 201);
      },
    );
}
