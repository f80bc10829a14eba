/**
 * The typed client, checked by the compiler: `npm run typecheck` compiles this file (it never
 * runs). Each `@ts-expect-error` line must fail to compile; if the types stopped catching that
 * mistake, the directive itself would be the error.
 */
import type { ContractAt, ContractOf } from 'hono-namespaces/client';
import { connect, connectMany } from 'hono-namespaces/client';
import type { lobbyNamespace, roomNamespace, roomsRoutes } from '../../src/routes/rooms.ts';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const same = <A, B>(proof: Equal<A, B>) => proof;

export function direct(): void {
  const room = connect<typeof roomNamespace>('/api/1/ws/hello-rooms/Berlin');
  room.send('chat', { text: 'hello' });
  // @ts-expect-error: a chat needs its text
  room.send('chat', {});
  // @ts-expect-error: the text is a string
  room.send('chat', { text: 42 });
  // @ts-expect-error: the room declares no such message
  room.send('dance', { text: 'x' });
  // @ts-expect-error: the data of a chat cannot be left out
  room.send('chat');

  room.on('chat', (message, frame) => {
    same<typeof message, { id: string; username: string; text: string; at: string }>(true);
    same<typeof frame.seq, number | undefined>(true);
    // @ts-expect-error: a chat message has no such field
    void message.body;
  });
  room.on('joined', (member) => same<typeof member.count, number>(true));
  room.on('error', (error) => same<typeof error.code, string>(true));
  // @ts-expect-error: the room broadcasts no such type
  room.on('chatt', () => {});
  // @ts-expect-error: an explicit data type is for untyped namespaces only
  room.on<{ anything: true }>('chat', () => {});

  void room.request('chat', { text: 'hi' }).then((ack) => same<typeof ack, { id: string }>(true));
  // @ts-expect-error: the request's data is checked like send's
  void room.request('chat', { txt: 'hi' });
  void room.request('chat', { text: 'hi' }, { timeoutMs: 1000 });
}

export function multiplexed(): void {
  const mux = connectMany('/api/1/ws');
  const lobby = mux.subscribe<typeof lobbyNamespace>('/api/1/ws/hello-rooms');
  lobby.on('count', ({ room, count }) => {
    same<typeof room, string>(true);
    same<typeof count, number>(true);
  });
  lobby.on('rooms', ({ rooms }) => same<(typeof rooms)[number], { name: string; members: number }>(true));
  // @ts-expect-error: the lobby takes no messages
  lobby.send('chat', { text: 'x' });

  const room = mux.subscribe<typeof roomNamespace>('/api/1/ws/hello-rooms/Cairo');
  room.send('chat', { text: 'salam' });
  // @ts-expect-error: wrong payload on a subscription too
  room.send('chat', { text: ['salam'] });
  same<ContractOf<typeof roomNamespace>['params'], { roomName: string }>(true);

  // The same contract from the app's type, by the route's pattern (Hono's `hc<typeof app>` idiom).
  type FromApp = ContractAt<ReturnType<typeof roomsRoutes>, '/api/1/ws/hello-rooms/:roomName'>;
  const viaApp = mux.subscribe<FromApp>('/api/1/ws/hello-rooms/Amsterdam');
  viaApp.send('chat', { text: 'hoi' });
  // @ts-expect-error: the pattern's contract checks payloads the same way
  viaApp.send('chat', { text: null });
  same<FromApp, ContractOf<typeof roomNamespace>>(true);
}

export function untyped(): void {
  // Without a type, anything goes, as before: the data types are the caller's.
  const any = connect('/api/1/ws/whatever');
  any.send('anything', { at: 1 });
  any.on<{ id: number }>('item', (item) => same<typeof item.id, number>(true));
  void any.request<{ id: number }>('add', { text: 'x' }).then((ack) => same<typeof ack.id, number>(true));
  const sub = connectMany('/api/1/ws').subscribe('/api/1/ws/whatever');
  sub.send('anything');
}
