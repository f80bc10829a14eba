/**
 * Dynamic Rooms, the reference app: one namespace per chat room, and a lobby.
 * WS `/api/1/ws/hello-rooms/:roomName` and the lobby `/api/1/ws/hello-rooms` (live member counts);
 * REST `/api/1/rooms`, `/api/1/rooms/:roomName` (resync) and `POST /api/1/rooms/:roomName/messages`.
 *
 * A room's chat history is its namespace's log: a chat is accepted once it is sequenced, logged
 * and published (then the sender gets its ack, or its 201), and the REST state reads the same log,
 * so a client told `gap` that resyncs loses nothing replay would have given it.
 */
import { randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import { z } from 'zod';
import { access, GUEST_USERNAME, validate, type AppEnv, type Namespace, type Realtime } from 'hono-namespaces';

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
/** The lobby: every room's member count, live. */
export const LOBBY_PATH = '/api/1/ws/hello-rooms';

/** The room's log: the last 200 chats of the last 5 minutes are replayed, and shown by the REST state. */
export const ROOM_REPLAY = { size: 200, maxAgeMs: 300_000 };

// #region broadcast-schemas
/** A chat message as broadcast (`chat`), logged and listed by the REST state. */
const ChatMessageSchema = z.object({
  id: z.string(),
  username: z.string(),
  text: z.string(),
  /** ISO time the server accepted it. */
  at: z.string(),
});
export type ChatMessage = z.infer<typeof ChatMessageSchema>;

/** A member joining or leaving a room (volatile), with the room's count after it. */
const MemberEvent = z.object({ clientId: z.string(), username: z.string(), count: z.number() });

/** A room and how many are in it, on every instance. */
const RoomCount = z.object({ room: z.string(), count: z.number() });

/** The lobby's snapshot for a client that just joined it: the rooms with their member counts. */
const RoomList = z.object({ rooms: z.array(z.object({ name: z.string(), members: z.number() })) });
// #endregion

function chat(username: string, text: string): ChatMessage {
  return { id: randomUUID(), username, text, at: new Date().toISOString() };
}

/** The namespace of one room (`typeof roomNamespace` types a client of it). */
export function roomNamespace(rt: Realtime) {
  /** The room's member count after a join or a leave: to the room's members and to the lobby. */
  async function counted(ns: Namespace): Promise<number> {
    const count = (await rt.presence.counts([ns.path])).get(ns.path) ?? 0;
    void rt.broadcast(LOBBY_PATH, 'count', { room: ns.params.roomName!, count }, { volatile: true });
    return count;
  }

  return rt.namespace({
    params: RoomParams,
    messages: { chat: Chat },
    // Typing only: what `on('chat')` and the others receive, for clients typed by `typeof roomNamespace`.
    broadcasts: { chat: ChatMessageSchema, joined: MemberEvent, left: MemberEvent },
    replay: ROOM_REPLAY,
    // Joins and leaves are volatile: they take no seq and no room in the log, and a client
    // that missed one learns the members from the REST state.
    async onConnect({ clientId, ctx }, ns) {
      const count = await counted(ns);
      void ns.broadcast('joined', { clientId, username: ctx.username, count }, { except: clientId, volatile: true });
    },
    onMessage({ ctx, message }, ns) {
      // Not awaited: the ack waits for it anyway, and is an `unavailable` error if it failed.
      const sent = chat(ctx.username, message.data.text);
      void ns.broadcast('chat', sent);
      return { id: sent.id };
    },
    async onDisconnect({ clientId, ctx }, ns) {
      const count = await counted(ns);
      void ns.broadcast('left', { clientId, username: ctx.username, count }, { volatile: true });
    },
  });
}

// #region lobby
/**
 * The lobby namespace: a client that joins gets the rooms with their counts (`rooms`), then a
 * volatile `count { room, count }` whenever someone joins or leaves a room. A count is absolute,
 * so one that was lost is made good by the next; a reconnect brings a new snapshot.
 */
export function lobbyNamespace(rt: Realtime) {
  return rt.namespace({
    messages: {},
    broadcasts: { rooms: RoomList, count: RoomCount },
    async onConnect({ clientId }, ns) {
      await ns.send(clientId, 'rooms', { rooms: await listRooms(rt) });
    },
  });
}
// #endregion

/** The default rooms, and every room with members on any instance, with their counts. */
async function listRooms(rt: Realtime): Promise<Array<{ name: string; members: number }>> {
  const names = new Set<string>(DEFAULT_ROOMS);
  for (const path of await rt.presence.paths()) {
    const name = path.startsWith(ROOM_PREFIX) ? path.slice(ROOM_PREFIX.length) : undefined;
    if (name !== undefined && RoomName.safeParse(name).success) names.add(name);
  }
  const counts = await rt.presence.counts([...names].map(roomPath));
  return [...names]
    .map((name) => ({ name, members: counts.get(roomPath(name)) ?? 0 }))
    .filter((room) => room.members > 0 || (DEFAULT_ROOMS as readonly string[]).includes(room.name));
}

export function roomsRoutes(rt: Realtime) {
  return new Hono<AppEnv>()
    .get(ROOM_PATTERN, access({ requireAuth: false }), roomNamespace(rt))
    .get(LOBBY_PATH, access({ requireAuth: false }), lobbyNamespace(rt))
    .get('/api/1/rooms', async (c) => c.json({ rooms: await listRooms(rt) }))
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
