/**
 * The scenarios of `npm run bench` and their sizes. `quick` shrinks every run to validate the
 * harness in seconds; the full set keeps each run to a few seconds, the whole to a few minutes.
 */
import type { Job } from './load.ts';
import type { System } from './protocols.ts';

/** One configuration of a scenario, run once per system. */
export type RunSpec = Omit<Job, 'system' | 'ports'> & { label: string; instances?: number };

export interface Scenario {
  id: string;
  title: string;
  /** What it measures, for the table heading and docs/performance.md. */
  measures: string;
  runs: RunSpec[];
  /** Systems it applies to; default all three (raw ws has no cross-instance story). */
  systems?: readonly System[];
}

/** Fan-out broadcasts in flight per room: enough that the server, not the round trip, is the limit. */
const WINDOW = Number(process.env.BENCH_WINDOW ?? 32);

export function scenarios(quick: boolean): Scenario[] {
  const measure = quick ? { warmupMs: 500, durationMs: 1500 } : { warmupMs: 1000, durationMs: 5000 };
  const fanoutShapes: Array<[number, number]> = quick ? [[10, 50], [1, 1000]] : [[10, 50], [1, 1000], [100, 10]];
  const sizes = quick ? [100] : [100, 1024];
  return [
    {
      id: 'fanout',
      title: '1. Fan-out capacity',
      measures:
        `Closed loop: in each room one client sends chat messages, at most ${WINDOW} broadcasts in flight per room (a broadcast is done when every member has it). Deliveries/s counted at the clients; server CPU time (user+system) per delivery.`,
      runs: fanoutShapes.flatMap(([rooms, perRoom]) =>
        sizes.map((size) => ({ label: `${rooms}x${perRoom}, ${size} B`, kind: 'fanout' as const, rooms, perRoom, size, window: WINDOW, concurrency: 50, ...measure })),
      ),
    },
    {
      id: 'latency',
      title: '2. Latency below saturation',
      measures:
        'Open loop: 10 rooms x 50 clients, each room\'s sender sends 20 broadcasts/s (10,000 deliveries/s in all), 100 B. Latency from the scheduled send time to arrival at each client (coordinated omission included), in ms.',
      runs: [{ label: '10x50, 200 msg/s, 100 B', kind: 'latency', rooms: 10, perRoom: 50, size: 100, rate: 20, concurrency: 50, ...measure }],
    },
    {
      id: 'idle',
      title: '3. Idle connections',
      measures:
        'Connects clients over 100 rooms, 50 handshakes in flight, each counted when its welcome arrives (ours: session cookie read, access check, params, onCreate, namespace get-or-create, presence, replay head). Then server RSS and heap after a full GC, per connection.',
      runs: [{ label: quick ? '1000 clients' : '5000 clients', kind: 'idle', rooms: 100, perRoom: quick ? 10 : 50, size: 0, concurrency: 50, warmupMs: 0, durationMs: 0 }],
    },
    {
      id: 'cross',
      systems: ['ours', 'socketio'],
      title: '4. Cross-instance (Redis)',
      measures:
        'Two server processes sharing Redis (ours: RedisBroker, the log on as in the shipped rooms; Socket.IO: @socket.io/redis-adapter), each room\'s clients alternating between them; a third instance hosts one client in another room. Closed loop as in 1, then open loop as in 2 at two rates (the second near half of the Socket.IO capacity). Servers µs/delivery sums both busy instances; the last column is what the third instance receives from Redis for rooms it does not host.',
      runs: [
        { label: '2 instances, 10x50 closed loop, 100 B', instances: 2, kind: 'fanout', rooms: 10, perRoom: 50, size: 100, window: 8, concurrency: 50, ...measure },
        { label: '2 instances, 10x50, 200 msg/s, 100 B', instances: 2, kind: 'latency', rooms: 10, perRoom: 50, size: 100, rate: 20, concurrency: 50, ...measure },
        // A second rate, at about half of Socket.IO's closed-loop capacity above: at 200 msg/s both
        // systems sit at the Redis round-trip floor and their tails say nothing about the engine.
        { label: '2 instances, 10x50, 800 msg/s, 100 B', instances: 2, kind: 'latency', rooms: 10, perRoom: 50, size: 100, rate: 80, concurrency: 50, ...measure },
      ],
    },
    {
      id: 'mux',
      systems: ['ours'],
      title: '8. One socket x 20 subscriptions vs 20 sockets',
      measures:
        'Idle as in 3, but each client holds 20 namespaces (its room and the next 19 of 100 rooms): over one multiplexed socket (`/api/1/ws`, 20 subscribes sent at once) or over 20 direct sockets (opened one after the other, 50 clients in flight). A client is counted once its 20 welcomes arrived; memory and CPU per client.',
      runs: [
        { label: `${quick ? 100 : 500} clients, 1 socket x 20 subscriptions`, kind: 'idle', rooms: 100, perRoom: quick ? 1 : 5, size: 0, concurrency: 50, warmupMs: 0, durationMs: 0, subscriptions: 20, multiplexed: true },
        { label: `${quick ? 100 : 500} clients, 20 sockets`, kind: 'idle', rooms: 100, perRoom: quick ? 1 : 5, size: 0, concurrency: 50, warmupMs: 0, durationMs: 0, subscriptions: 20, multiplexed: false },
      ],
    },
    {
      id: 'slow',
      title: '5. Slow consumers',
      measures:
        'Open loop: 5 rooms x 20 clients, 100 broadcasts/s per room of 16 KiB; one client in each room stops reading (1.6 MB/s each piles up: more than the kernel socket buffers hold within the window). Server RSS growth over the window (after GC) and the latency of everyone else.',
      runs: [{ label: '5x20, 5 paused, 16 KiB', kind: 'slow', rooms: 5, perRoom: 20, size: 16 * 1024, rate: 100, slow: 5, concurrency: 50, ...measure }],
    },
  ];
}
