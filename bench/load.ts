/**
 * The load process: opens the clients of one run, drives the scenario and reports what the
 * clients saw, with its own CPU use so a client-bound run can be flagged. Run by bench/run.ts
 * (over Node IPC), pinned to the other core than the server.
 */
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { FrameKind, PROTOCOLS, type Protocol, type System } from './protocols.ts';

/** One run of one scenario against one system. */
export interface Job {
  kind: 'fanout' | 'latency' | 'idle' | 'slow';
  system: System;
  /** Ports of the server instances; clients of a room are spread over them in turn. */
  ports: number[];
  rooms: number;
  perRoom: number;
  /** Length of the chat text in bytes. */
  size: number;
  /** Fan-out: broadcasts in flight per room (a broadcast is done when every member has it). */
  window?: number;
  /** Latency / slow: broadcasts per second per room (open loop). */
  rate?: number;
  /** Slow: clients that stop reading (one per room, never the sender). */
  slow?: number;
  warmupMs: number;
  durationMs: number;
  /** Handshakes in flight while connecting. */
  concurrency: number;
  /** Cross-instance: an instance that gets one client in a room of its own and none of the busy ones. */
  quietPort?: number;
  /**
   * Idle (ours): namespaces each client holds, its own room and the next ones: over one
   * multiplexed socket (`multiplexed`) or one direct socket each. A client counts once all are welcomed.
   */
  subscriptions?: number;
  multiplexed?: boolean;
}

/** What the load saw; the runner adds the server's side. */
export interface LoadResult {
  connectMs: number;
  connects: number;
  deliveries: number;
  seconds: number;
  clientCpuPct: number;
  latency?: { p50: number; p99: number; p999: number; max: number; samples: number; missing: number };
}

const HOST = '127.0.0.1';

interface Room {
  index: number;
  clients: Client[];
  /** The members that read (all but the paused ones). */
  readers: number;
  sent: number;
  done: number;
  /** Receipts per broadcast in flight, by broadcast number modulo its length. */
  receipts: Int32Array;
}

interface Client {
  socket: WebSocket;
  /** A client of several direct sockets: the others. */
  more?: WebSocket[];
  room: Room;
  welcomed: boolean;
  paused: boolean;
  received: number;
}

/** Where every system's chat text begins: `"text":"T<stamp>|`. */
const TEXT_START = Buffer.from('"text":"T');

type Mark = (name: 'before' | 'start' | 'end', gc?: boolean) => Promise<void>;

/** Runs one job; `mark` lets the runner read the server's counters at the same moments. */
export async function runJob(job: Job, mark: Mark): Promise<LoadResult> {
  const proto = PROTOCOLS[job.system];
  const cookie = job.system === 'ours' ? await login(job.ports[0]!) : undefined;
  let deliveries = 0;
  let measuring = false;
  let stopped = false;
  const latencies: number[] = [];
  let windowStart = Infinity;
  let windowEnd = Infinity;
  let expected = 0;
  const text = (stamp: number) => {
    const head = `T${stamp.toFixed(3)}|`;
    return head + 'x'.repeat(Math.max(0, job.size - head.length));
  };
  const window = job.window ?? 8;

  const rooms: Room[] = Array.from({ length: job.rooms }, (_, index) => ({
    index,
    clients: [],
    readers: job.perRoom,
    sent: 0,
    done: 0,
    receipts: new Int32Array(1024),
  }));

  function pump(room: Room): void {
    const sender = room.clients[0]!;
    while (!stopped && room.sent - room.done < window) {
      room.sent++;
      sender.socket.send(proto.chat(text(0)));
    }
  }

  function onChat(client: Client, data: Buffer): void {
    if (measuring) deliveries++;
    const n = ++client.received;
    if (job.kind === 'fanout') {
      const room = client.room;
      const slot = n % room.receipts.length;
      if (++room.receipts[slot]! === room.readers) {
        room.receipts[slot] = 0;
        room.done = n;
        pump(room);
      }
      return;
    }
    // `T` opens the scheduled send time at the start of the text (the frame's epoch may hold a `T` too).
    const at = data.indexOf(TEXT_START) + TEXT_START.length;
    const stamp = Number(data.toString('latin1', at, data.indexOf(0x7c, at)));
    if (stamp >= windowStart && stamp < windowEnd) latencies.push(performance.now() - stamp);
  }

  if (job.kind === 'idle') {
    // Warm-up: the first handshakes load and compile code; the memory baseline is taken after.
    // As many handshakes as otherwise when each client makes several.
    const warm = Array.from({ length: Math.ceil(WARMUP_CONNECTS / (job.subscriptions ?? 1)) }, (): Client => ({ socket: undefined as unknown as WebSocket, room: rooms[0]!, welcomed: false, paused: false, received: 0 }));
    for (const client of warm) {
      if (job.subscriptions) await openMany(client, job, cookie, (k) => `warmup${k}`);
      else await open(proto, client, proto.url(HOST, job.ports[0]!, 'warmup'), cookie, () => {});
    }
    await Promise.all(warm.flatMap((client) => [client.socket, ...(client.more ?? [])].map(closeAndWait)));
    await sleep(200);
    await mark('before', true);
  }

  const connectStart = performance.now();
  const cpuAtConnect = process.cpuUsage();
  const all: Client[] = [];
  for (const room of rooms) {
    for (let i = 0; i < job.perRoom; i++) {
      const client: Client = { socket: undefined as unknown as WebSocket, room, welcomed: false, paused: false, received: 0 };
      all.push(client);
      room.clients.push(client);
    }
  }
  let next = 0;
  async function connector(): Promise<void> {
    while (next < all.length) {
      const index = next++;
      const client = all[index]!;
      const port = job.ports[index % job.ports.length]!;
      if (job.subscriptions) await openMany(client, job, cookie, (k) => `r${(client.room.index + k) % job.rooms}`);
      else await open(proto, client, proto.url(HOST, port, `r${client.room.index}`), cookie, onChat);
    }
  }
  await Promise.all(Array.from({ length: Math.min(job.concurrency, all.length) }, connector));
  const connectMs = performance.now() - connectStart;
  if (job.quietPort !== undefined) {
    const quiet: Client = { socket: undefined as unknown as WebSocket, room: rooms[0]!, welcomed: false, paused: false, received: 0 };
    await open(proto, quiet, proto.url(HOST, job.quietPort, 'quiet'), cookie, () => {});
    all.push(quiet);
  }
  const connectCpu = process.cpuUsage(cpuAtConnect);

  if (job.kind === 'slow') {
    const slow = job.slow ?? 0;
    for (let i = 0; i < slow && i < rooms.length; i++) {
      const client = rooms[i]!.clients[job.perRoom - 1]!;
      client.paused = true;
      client.socket.pause();
      rooms[i]!.readers--;
    }
  }

  let cpuAtStart = process.cpuUsage();
  let timeAtStart = performance.now();
  let seconds = 0;
  let clientCpuPct = 0;

  if (job.kind === 'idle') {
    await mark('start', true);
  } else {
    let timer: NodeJS.Timeout | undefined;
    if (job.kind === 'fanout') {
      for (const room of rooms) pump(room);
    } else {
      const interval = 1000 / job.rate!;
      const due = rooms.map((room) => performance.now() + (room.index * interval) / rooms.length);
      timer = setInterval(() => {
        const now = performance.now();
        for (const room of rooms) {
          const sender = room.clients[0]!;
          while (due[room.index]! <= now && !stopped) {
            const stamp = due[room.index]!;
            if (stamp >= windowStart && stamp < windowEnd) expected += room.readers;
            sender.socket.send(proto.chat(text(stamp)));
            due[room.index] = stamp + interval;
          }
        }
      }, 1);
    }
    await sleep(job.warmupMs);
    await mark('start', job.kind === 'slow');
    measuring = true;
    cpuAtStart = process.cpuUsage();
    timeAtStart = performance.now();
    windowStart = timeAtStart;
    windowEnd = timeAtStart + job.durationMs;
    await sleep(job.durationMs);
    measuring = false;
    const cpu = process.cpuUsage(cpuAtStart);
    seconds = (performance.now() - timeAtStart) / 1000;
    clientCpuPct = ((cpu.user + cpu.system) / 1e6 / seconds) * 100;
    await mark('end', job.kind === 'slow');
    stopped = true;
    if (timer) clearInterval(timer);
    // Let what is in flight arrive, so latencies of the window's last messages are counted.
    if (job.kind !== 'fanout') await sleep(Math.min(2000, job.durationMs / 2));
  }

  for (const client of all) for (const socket of [client.socket, ...(client.more ?? [])]) socket.terminate();
  if (job.kind === 'idle') {
    const clientCpuPct = ((connectCpu.user + connectCpu.system) / 1000 / connectMs) * 100;
    return { connectMs, connects: all.length, deliveries: 0, seconds: connectMs / 1000, clientCpuPct };
  }
  const result: LoadResult = { connectMs, connects: all.length, deliveries, seconds, clientCpuPct };
  if (job.kind !== 'fanout') result.latency = summarize(latencies, expected);
  return result;
}

function open(proto: Protocol, client: Client, url: string, cookie: string | undefined, onChat: (c: Client, d: Buffer) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { perMessageDeflate: false, ...(cookie ? { headers: { cookie } } : {}) });
    client.socket = socket;
    const reply = (text: string) => socket.send(text);
    socket.on('message', (data: Buffer) => {
      const kind = proto.classify(data, client.welcomed, reply);
      if (kind === FrameKind.Chat) onChat(client, data);
      else if (kind === FrameKind.Welcome) {
        client.welcomed = true;
        resolve();
      }
    });
    socket.once('error', reject);
    socket.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode} from ${url}`)));
    socket.once('close', (code) => {
      if (!client.welcomed) reject(new Error(`closed with ${code} before the welcome (${url})`));
    });
  });
}

/**
 * Opens the `job.subscriptions` namespaces of one client (ours), rooms named by `room(k)`: one
 * multiplexed socket subscribing to each, or one direct socket each. Resolves once every
 * namespace's welcome arrived.
 */
async function openMany(client: Client, job: Job, cookie: string | undefined, room: (k: number) => string): Promise<void> {
  const proto = PROTOCOLS[job.system];
  const n = job.subscriptions!;
  const port = job.ports[0]!;
  if (!job.multiplexed) {
    const sockets: Client[] = Array.from({ length: n }, () => ({ ...client }));
    for (let k = 0; k < n; k++) await open(proto, sockets[k]!, proto.url(HOST, port, room(k)), cookie, () => {});
    client.socket = sockets[0]!.socket;
    client.more = sockets.slice(1).map((c) => c.socket);
    return;
  }
  const paths = Array.from({ length: n }, (_, k) => new URL(proto.url(HOST, port, room(k))).pathname);
  const socket = new WebSocket(`ws://${HOST}:${port}/api/1/ws`, { perMessageDeflate: false, ...(cookie ? { headers: { cookie } } : {}) });
  client.socket = socket;
  await new Promise<void>((resolve, reject) => {
    let welcomes = 0;
    socket.on('message', (data: Buffer) => {
      // A refused subscription would never be welcomed: fail the run with the server's reason.
      if (data.indexOf('"type":"unsubscribed"') >= 0) {
        reject(new Error(`subscription refused: ${data.toString().slice(0, 300)}`));
        return;
      }
      // The socket's own welcome (no path) comes first; then one per subscription, ending with its path.
      if (data.indexOf('"type":"welcome"') < 0) return;
      if (welcomes++ === 0) {
        for (const path of paths) socket.send(JSON.stringify({ type: 'subscribe', data: { path } }));
      } else if (welcomes === n + 1) {
        client.welcomed = true;
        resolve();
      }
    });
    socket.once('error', reject);
    socket.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode} from /api/1/ws`)));
    socket.once('close', (code) => {
      if (!client.welcomed) reject(new Error(`closed with ${code} before every welcome`));
    });
  });
}

async function login(port: number): Promise<string> {
  const res = await fetch(`http://${HOST}:${port}/api/1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'bench' }),
  });
  if (res.status !== 200) throw new Error(`login failed: HTTP ${res.status}`);
  return res.headers.get('set-cookie')!.split(';')[0]!;
}

function summarize(samples: number[], expected: number): NonNullable<LoadResult['latency']> {
  const sorted = Float64Array.from(samples).sort();
  const at = (q: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : NaN);
  return {
    p50: at(0.5),
    p99: at(0.99),
    p999: at(0.999),
    max: sorted.length ? sorted[sorted.length - 1]! : NaN,
    samples: sorted.length,
    missing: Math.max(0, expected - sorted.length),
  };
}

/** Handshakes made and closed before an idle run is measured. */
const WARMUP_CONNECTS = 200;

function closeAndWait(socket: WebSocket): Promise<void> {
  return new Promise((resolve) => {
    socket.once('close', () => resolve());
    socket.close();
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

if (process.send) {
  let markId = 0;
  const waiting = new Map<number, () => void>();
  process.on('message', (msg: { job?: Job; markDone?: number }) => {
    if (msg.markDone !== undefined) {
      waiting.get(msg.markDone)?.();
      waiting.delete(msg.markDone);
      return;
    }
    if (!msg.job) return;
    const mark: Mark = (name, gc) =>
      new Promise((resolve) => {
        const id = ++markId;
        waiting.set(id, resolve);
        process.send!({ mark: name, id, gc: gc ?? false });
      });
    runJob(msg.job, mark).then(
      (result) => process.send!({ result }, () => process.exit(0)),
      (err: Error) => process.send!({ error: err.stack ?? String(err) }, () => process.exit(1)),
    );
  });
  process.on('disconnect', () => process.exit(0));
}
