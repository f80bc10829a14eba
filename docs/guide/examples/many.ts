/**
 * Many namespaces over one socket, from the client: Dynamic Rooms' lobby (live counts of every
 * room) and the open room on one multiplexed socket, typed by the app's own route definitions.
 * Compiled by `npm run typecheck` and run against the demo app by `test/guide/examples.test.ts`.
 */
import {
  connectMany,
  type AckData,
  type ContractAt,
  type ContractOf,
  type MultiplexClient,
  type MultiplexOptions,
  type MultiplexWelcome,
  type NamespaceChannel,
  type NamespaceContract,
  type RequestOptions,
  type SubscribeOptions,
  type Subscription,
  type UntypedContract,
} from 'hono-namespaces/client';
import type { lobbyNamespace, roomsRoutes } from '../../../src/routes/rooms.ts';

// #region types
/** A room's contract, read from the app's routes by pattern (as `hc<typeof app>` reads REST routes). */
export type Room = ContractAt<ReturnType<typeof roomsRoutes>, '/api/1/ws/hello-rooms/:roomName'>;
/** The lobby's, read from its namespace handler's type. */
export type Lobby = ContractOf<typeof lobbyNamespace>;
/** What a room's `chat` broadcast carries: `{ id, username, text, at }`, from the schema. */
export type ChatMessage = Room['broadcasts']['chat'];
// #endregion

/** What the page shows; the test records the calls. */
export interface RoomsView {
  rooms(rooms: Array<{ name: string; members: number }>): void;
  count(room: string, count: number): void;
  chat(room: string, message: ChatMessage): void;
}

// #region many
/** The lobby's live counts and one open room, over one socket; `open()` switches rooms on it. */
export function openRooms(origin: string, view: RoomsView, options: MultiplexOptions = {}) {
  const mux: MultiplexClient = connectMany('/api/1/ws', { baseUrl: origin, ...options });
  const lobby = mux.subscribe<Lobby>('/api/1/ws/hello-rooms');
  lobby.on('rooms', ({ rooms }) => view.rooms(rooms)); // a snapshot at every (re)subscribe
  lobby.on('count', ({ room, count }) => view.count(room, count)); // then each join and leave
  let room: Subscription<Room> | undefined;
  return {
    mux,
    lobby,
    /** Leaves the open room (its members see you go) and joins `name`, on the same socket. */
    open(name: string, options: SubscribeOptions = {}): Subscription<Room> {
      room?.unsubscribe();
      const joined = mux.subscribe<Room>(`/api/1/ws/hello-rooms/${encodeURIComponent(name)}`, options);
      joined.on('chat', (message) => view.chat(name, message));
      room = joined;
      return joined;
    },
  };
}
// #endregion

// #region either
/** Works with a direct connection (`connect<Room>()`) and with a subscription alike. */
export async function say(room: NamespaceChannel<Room>, text: string): Promise<AckData<Room>> {
  const options: RequestOptions = { timeoutMs: 5000 };
  return room.request('chat', { text }, options); // `{ text: 42 }` would not compile
}
// #endregion

// #region welcome
/** The socket's own welcome: who it is, and how many subscriptions it may hold. */
export function socketInfo(welcome: MultiplexWelcome | null): string {
  return welcome ? `${welcome.ctx.username}, up to ${welcome.maxSubscriptions} subscriptions` : 'not connected yet';
}
// #endregion

// #region contract
/** A contract by hand, for a namespace whose server is not in this code base. */
export interface Ticker extends NamespaceContract {
  messages: { pause: { seconds: number } };
  broadcasts: { tick: { at: string } };
  ack: null;
  params: {};
}

/** Without a type, a subscription takes any message and `on<T>()` trusts you with T. */
export function watch(mux: MultiplexClient, onTick: (at: string) => void): [Subscription<Ticker>, Subscription<UntypedContract>] {
  const ticker = mux.subscribe<Ticker>('/api/1/ws/ticker');
  ticker.on('tick', ({ at }) => onTick(at));
  const raw = mux.subscribe('/api/1/ws/anything');
  raw.on<{ at: string }>('tick', ({ at }) => onTick(at));
  return [ticker, raw];
}
// #endregion
