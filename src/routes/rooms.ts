/**
 * Dynamic Rooms, the reference app: one namespace per chat room.
 * WS `/api/1/ws/hello-rooms/:roomName`; REST `/api/1/rooms`, `/api/1/rooms/:roomName` (resync)
 * and `POST /api/1/rooms/:roomName/messages`.
 */
import { randomUUID } from 'node:crypto';
import { zValidator } from '@hono/zod-validator';
import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { z } from 'zod';
import { access } from '../ws/access.ts';
import { GUEST_USERNAME } from '../ws/ctx.ts';
import { MessageError } from '../ws/message-error.ts';
import type { Realtime } from '../ws/realtime.ts';
import type { AppEnv } from '../ws/types.ts';
import { MemoryRoomHistory, type ChatMessage, type RoomHistory } from './room-history.ts';

/** Rooms the demo offers; any other valid name works too. */
export const DEFAULT_ROOMS = ['Amsterdam', 'Berlin', 'Cairo'] as const;

export const RoomName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$/, 'room names are 1-40 letters, digits, _ or -, starting with a letter or digit');

const RoomParams = z.object({ roomName: RoomName });
const Chat = z.object({ text: z.string().trim().min(1, 'empty message').max(2000) });

export const ROOM_PATTERN = '/api/1/ws/hello-rooms/:roomName';
const ROOM_PREFIX = '/api/1/ws/hello-rooms/';
export const roomPath = (room: string) => `${ROOM_PREFIX}${room}`;

/** The room's replay: a reconnecting client gets the last 200 broadcasts of the last 5 minutes. */
export const ROOM_REPLAY = { size: 200, maxAgeMs: 300_000 };

export function roomsRoutes(rt: Realtime, history: RoomHistory = new MemoryRoomHistory()) {
  /** Kept before it is broadcast: a resync that reports seq S has every message up to S. */
  async function chat(room: string, username: string, text: string): Promise<ChatMessage> {
    const message = { id: randomUUID(), room, username, text, at: new Date().toISOString() };
    await history.push(message);
    return message;
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
        async onConnect({ clientId, ctx }, ns) {
          const count = await memberCount(ns.path);
          ns.broadcast('joined', { clientId, username: ctx.username, count }, { except: clientId });
        },
        async onMessage({ ctx, message }, ns) {
          const sent = await chat(ctx.params.roomName!, ctx.username, message.data.text).catch((err: unknown) => {
            rt.log.warn({ err: String(err) }, 'chat history unavailable: message refused');
            throw new MessageError('the room cannot take messages right now; try again', 'unavailable');
          });
          ns.broadcast('chat', sent);
          return { id: sent.id };
        },
        async onDisconnect({ clientId, ctx }, ns) {
          const count = await memberCount(ns.path);
          ns.broadcast('left', { clientId, username: ctx.username, count });
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
    .get('/api/1/rooms/:roomName', zValidator('param', RoomParams), async (c) => {
      const { roomName } = c.req.valid('param');
      // The seq is read first: every message it counts is in the history read after it (messages
      // newer than it may be there too; the client drops their live copies by seq, the page by id).
      let head, members, partial, messages;
      try {
        head = await rt.replayHead(roomPath(roomName));
        [{ members, partial }, messages] = await Promise.all([rt.presence.members(roomPath(roomName)), history.recent(roomName)]);
      } catch (err) {
        // Without its seq or its messages the state is no resync: the client retries.
        rt.log.warn({ err: String(err), room: roomName }, 'room state unavailable');
        throw new HTTPException(503, { message: 'the room state is unavailable right now; try again' });
      }
      // Who is in a room is shown to signed-in users; a guest gets the count, so that nobody can
      // list everyone connected without signing in.
      const shown = c.get('session') ? { members: members.map(({ clientId, username }) => ({ clientId, username })) } : {};
      return c.json({ room: roomName, ...head, count: members.length, ...shown, ...(partial ? { partial } : {}), messages });
    })
    .post(
      '/api/1/rooms/:roomName/messages',
      zValidator('param', RoomParams),
      zValidator('json', Chat),
      async (c) => {
        const { roomName } = c.req.valid('param');
        // A REST post is made by its session's user, or by a guest: never by the server itself.
        const username = c.get('session')?.username ?? GUEST_USERNAME;
        const message = await chat(roomName, username, c.req.valid('json').text);
        await rt.broadcast(roomPath(roomName), 'chat', message);
        return c.json({ message }, 201);
      },
    );
}
