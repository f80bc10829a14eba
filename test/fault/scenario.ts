/**
 * One fault run: observers and senders in two rooms spread over the instances by the balancer
 * (direct sockets, and one multiplexed socket per instance subscribed to both rooms),
 * traffic before, during and after `fault`, then the tally. Shared by the fault suites.
 */
import { Accepted, Balancer, multiplexed, Observer, RestSender, settle, WsSender, type Backend, type Tally } from './chat.ts';

export interface RunOptions {
  /** Named in the FAULT_REPORT line. */
  name: string;
  backends: Backend[];
  /** What breaks, while the traffic flows; resolves when it is over (recovered or not). */
  fault(): Promise<void>;
  /** Traffic before the fault and after it, in ms. */
  beforeMs?: number;
  afterMs?: number;
  observersPerRoom?: number;
  /** Runs once the traffic settled, while every client is still connected. */
  after?(clients: { observers: Observer[]; ws: WsSender[] }): Promise<void>;
}

export interface RunResult {
  tallies: Tally[];
  senders: { ws: WsSender[]; rest: RestSender[] };
  observers: Observer[];
}

export const ROOMS = ['FaultA', 'FaultB'];
/** Each sender's pace: with two senders per room, well under the room's 200-message log over a run. */
const INTERVAL_MS = 100;

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function run(options: RunOptions): Promise<RunResult> {
  const balancer = new Balancer(options.backends);
  const accepted = new Accepted();
  const homes = options.backends.length;
  const direct = ROOMS.flatMap((room) => Array.from({ length: options.observersPerRoom ?? 3 }, (_, i) => new Observer(room, balancer, accepted, i % homes)));
  const muxes = options.backends.map((_, home) => multiplexed(balancer, home));
  const observers = [...direct, ...muxes.flatMap((mux, home) => ROOMS.map((room) => new Observer(room, balancer, accepted, home, mux)))];
  const ws = ROOMS.map((room, i) => new WsSender(room, balancer, accepted, i % homes));
  const rest = ROOMS.map((room) => new RestSender(room, balancer, accepted));
  try {
    await Promise.all([...observers.map((o) => o.client), ...ws.map((s) => s.client)].map(connected));
    for (const s of [...ws, ...rest]) s.start(INTERVAL_MS);
    await pause(options.beforeMs ?? 1000);
    await options.fault();
    await pause(options.afterMs ?? 1500);
    await Promise.all([...ws, ...rest].map((s) => s.stop()));
    const tallies = await settle(observers, accepted);
    await options.after?.({ observers, ws });
    // FAULT_REPORT=1 prints the counts (for the performance and fault notes).
    if (process.env.FAULT_REPORT === '1') {
      const refusals = { ws: ws.map((s) => Object.fromEntries(s.errors)), rest: rest.map((s) => Object.fromEntries(s.statuses)) };
      console.info(`[fault] ${options.name}: ${JSON.stringify({ tallies, refusals })}`);
    }
    return { tallies, senders: { ws, rest }, observers };
  } finally {
    for (const c of [...direct.map((o) => o.client), ...ws.map((s) => s.client)]) if ('close' in c) c.close();
    for (const mux of muxes) mux.close();
  }
}

function connected(client: Observer['client']): Promise<void> {
  if (client.status === 'connected') return Promise.resolve();
  return new Promise((resolve) => {
    const off = client.onStatusChange((now) => {
      if (now !== 'connected') return;
      off();
      resolve();
    });
  });
}

/** The counts every fault must leave as they are: nothing lost, nothing twice, one order, complete resyncs. */
export function expectClean(tallies: Tally[], expect: (v: unknown) => any): void {
  for (const t of tallies) {
    expect(t.accepted).toBeGreaterThan(10);
    expect({ room: t.room, lost: t.lost, duplicates: t.duplicates, orders: t.orders, resyncMisses: t.resyncMisses }).toEqual({
      room: t.room,
      lost: 0,
      duplicates: 0,
      orders: 1,
      resyncMisses: 0,
    });
  }
}
