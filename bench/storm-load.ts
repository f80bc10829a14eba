/**
 * One load process of scenario 7 (`bench/storm.ts`): clients of the real client library
 * (`src/client/client.ts`, its own full-jitter backoff) in the rooms of the shipped app, each
 * signed in as a user of its own, from many 127.0.0.x source addresses.
 *
 * The client is handed a bench-only `WebSocket` (the injectable constructor the client already
 * takes) that does what a load balancer in front of the instances would: each attempt goes to an
 * instance picked at random among those this process has not seen refuse a TCP connection (a
 * passive health check, as nginx's `max_fails=1`). It also records, without changing what the
 * client sees, each attempt's outcome: an HTTP refusal (503/429 from admission), a refused TCP
 * connection, the `welcome`, and whether a `sync` was sent and answered.
 */
import { createSigner } from 'fast-jwt';
import WebSocket from 'ws';
import { connect, type RealtimeClient } from '../src/client/client.ts';
import type { ClientOptions } from '../src/client/types.ts';

/** How a client picks its retry delays: the client's own full jitter, or the same exponential steps with none. */
export type StormMode = 'jitter' | 'nojitter';

export type StormCommand =
  | { cmd: 'connect'; ports: number[]; first: number; count: number; rooms: number; addresses: string[]; secret: string; mode: StormMode; ratePerSecond: number }
  | { cmd: 'senders'; port: number; rooms: number; secret: string }
  | { cmd: 'status' }
  /** Before the kill: the clients on `port` are its orphans. */
  | { cmd: 'arm'; port: number }
  | { cmd: 'killed'; at: number; chatEveryMs: number }
  | { cmd: 'report' }
  | { cmd: 'close' };

/** One orphan's recovery, as the report carries it. */
export interface OrphanRecord {
  /** ms from the kill to the close of its socket, and to the start of the attempt that succeeded. */
  lostMs: number;
  lastAttemptMs: number;
  /** ms from the kill to the welcome of the first socket that stayed, and to its sync's answer. */
  welcomeMs: number;
  syncedMs: number;
  attempts: number;
  refused503: number;
  refused429: number;
  tcpRefused: number;
  gap: boolean;
}

export interface StormReport {
  orphans: number;
  recovered: OrphanRecord[];
  /** Per 250 ms after the kill: [welcomes of orphans, HTTP refusals, TCP refusals]. */
  timeline: Array<[number, number, number]>;
  chats: number;
}

interface Tracked {
  client?: RealtimeClient;
  room: number;
  address: string;
  cookie: string;
  /** The instance of the socket being opened or open. */
  port: number;
  /** Whether the first socket went to its assigned instance (later ones go where the balancer says). */
  placed: boolean;
  attemptsToRecover: number;
  lostAt: number;
  attemptAt: number;
  lastAttemptAt: number;
  connected: boolean;
  orphan: boolean;
  attempts: number;
  refused503: number;
  refused429: number;
  tcpRefused: number;
  welcomeAt: number;
  syncedAt: number;
  syncPending: boolean;
  gap: boolean;
}

const now = () => performance.timeOrigin + performance.now();
const tracked: Tracked[] = [];
const senders: RealtimeClient[] = [];
const deadPorts = new Set<number>();
let livePorts: number[] = [];
let killedAt = 0;
const TIMELINE_MS = 250;
const SETUP_IN_FLIGHT = 50;
const timeline: Array<[number, number, number]> = [];
let chats = 0;
let chatTimer: NodeJS.Timeout | undefined;

function bump(kind: 0 | 1 | 2): void {
  if (!killedAt) return;
  const slot = Math.floor((now() - killedAt) / TIMELINE_MS);
  if (slot < 0) return;
  while (timeline.length <= slot) timeline.push([0, 0, 0]);
  timeline[slot]![kind]++;
}

/** The bench-only WebSocket of one client: load balancer, source address, cookie, recorder. */
function socketFor(t: Tracked, fixedPort?: number): ClientOptions['WebSocket'] {
  return class BenchSocket extends WebSocket {
    constructor(url: string) {
      const candidates = livePorts.filter((p) => !deadPorts.has(p));
      const port = fixedPort ?? (!t.placed ? t.port : (candidates[Math.floor(Math.random() * candidates.length)] ?? livePorts[0]!));
      const target = new URL(url);
      target.port = String(port);
      super(target, { perMessageDeflate: false, localAddress: t.address, headers: { cookie: t.cookie } });
      t.port = port;
      t.placed = true;
      t.attempts++;
      t.attemptAt = now();
      this.on('error', (err: Error & { code?: string }) => {
        if (err.code === 'ECONNREFUSED') {
          deadPorts.add(port);
          if (t.orphan) t.tcpRefused++;
          bump(2);
          return;
        }
        const status = /Unexpected server response: (\d+)/.exec(err.message)?.[1];
        if (t.orphan && status === '503') t.refused503++;
        else if (t.orphan && status === '429') t.refused429++;
        if (status) bump(1);
      });
      this.on('message', (data: Buffer) => {
        const head = data.toString('latin1', 0, 20);
        if (head.startsWith('{"type":"welcome"')) {
          t.connected = true;
          if (t.orphan && !t.welcomeAt) {
            t.welcomeAt = now();
            t.attemptsToRecover = t.attempts;
            t.lastAttemptAt = t.attemptAt;
            bump(0);
            // The client answers a welcome synchronously: by the next tick it has sent its sync, or needs none.
            process.nextTick(() => {
              if (!t.syncPending) t.syncedAt = t.welcomeAt;
            });
          }
        } else if (t.syncPending && (head.startsWith('{"type":"synced"') || head.startsWith('{"type":"gap"'))) {
          t.syncPending = false;
          t.gap = head.startsWith('{"type":"gap"');
          if (t.orphan && !t.syncedAt) t.syncedAt = now();
        }
      });
      this.on('close', () => {
        if (t.orphan && killedAt && !t.lostAt) t.lostAt = now();
        t.connected = false;
      });
    }

    override send(data: string): void {
      if (data.startsWith('{"type":"sync"')) t.syncPending = true;
      super.send(data);
    }
  } as unknown as ClientOptions['WebSocket'];
}

const signers = new Map<string, (payload: object) => string>();

/** A session token as the app's sessions issue it (HS256, an hour), one signer per secret. */
function tokenFor(username: string, secret: string): string {
  let sign = signers.get(secret);
  if (!sign) signers.set(secret, (sign = createSigner({ key: secret, algorithm: 'HS256', expiresIn: 3600_000 })));
  return sign({ sub: username, fn: '', ln: '' });
}

function clientOptions(t: Tracked, mode: StormMode, fixedPort?: number): ClientOptions {
  return {
    baseUrl: `ws://127.0.0.1:${fixedPort ?? livePorts[0]}`,
    WebSocket: socketFor(t, fixedPort),
    network: null,
    // No jitter: the same exponential ceilings (500 ms doubling to 20 s), each waited in full.
    ...(mode === 'nojitter' ? { random: () => 0.999_999 } : {}),
    onError: () => {},
  };
}

async function connectAll(job: Extract<StormCommand, { cmd: 'connect' }>): Promise<void> {
  livePorts = job.ports;
  const started = performance.now();
  for (let i = 0; i < job.count; i++) {
    const index = job.first + i;
    const t: Tracked = {
      room: index % job.rooms,
      address: job.addresses[index % job.addresses.length]!,
      cookie: `session=${tokenFor(`u${index}`, job.secret)}`,
      // Spread evenly at first, as a balancer would.
      port: job.ports[index % job.ports.length]!,
      placed: false,
      attemptsToRecover: 0,
      lostAt: 0,
      attemptAt: 0,
      lastAttemptAt: 0,
      connected: false,
      orphan: false,
      attempts: 0,
      refused503: 0,
      refused429: 0,
      tcpRefused: 0,
      welcomeAt: 0,
      syncedAt: 0,
      syncPending: false,
      gap: false,
    };
    tracked.push(t);
    t.client = connect(`/api/1/ws/hello-rooms/storm${t.room}`, clientOptions(t, job.mode));
    // Paced under the instances' admission rate, and at most SETUP_IN_FLIGHT handshakes at once
    // (a loaded machine must not turn the set-up into a storm of its own): the storm is what is measured.
    const due = (i + 1) * (1000 / job.ratePerSecond);
    const ahead = due - (performance.now() - started);
    if (ahead > 1) await new Promise((resolve) => setTimeout(resolve, ahead));
    while (tracked.length - tracked.filter((x) => x.connected).length >= SETUP_IN_FLIGHT) await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function startSenders(job: Extract<StormCommand, { cmd: 'senders' }>): Promise<void> {
  for (let room = 0; room < job.rooms; room++) {
    const t = { address: '127.0.0.1', cookie: `session=${tokenFor(`sender${room}`, job.secret)}`, port: job.port, placed: true, attempts: 0 } as Tracked;
    senders.push(connect(`/api/1/ws/hello-rooms/storm${room}`, clientOptions(t, 'jitter', job.port)));
  }
}

function sendChats(): void {
  for (const sender of senders) if (sender.send('chat', { text: `c${chats}` })) chats++;
}

function status() {
  const byPort: Record<number, number> = {};
  let connected = 0;
  for (const t of tracked) {
    if (!t.connected) continue;
    connected++;
    byPort[t.port] = (byPort[t.port] ?? 0) + 1;
  }
  const sendersUp = senders.filter((s) => s.status === 'connected').length;
  const orphans = tracked.filter((t) => t.orphan);
  const cpu = process.cpuUsage();
  return { clients: tracked.length, connected, byPort, sendersUp, orphans: orphans.length, recovered: orphans.filter((t) => t.syncedAt).length, cpuMs: (cpu.user + cpu.system) / 1000 };
}

if (process.send) {
  process.on('message', (msg: StormCommand & { id: number }) => {
    const reply = (body: object) => process.send!({ id: msg.id, ...body });
    if (msg.cmd === 'connect') void connectAll(msg).then(() => reply({ started: true }));
    else if (msg.cmd === 'senders') void startSenders(msg).then(() => reply({ started: true }));
    else if (msg.cmd === 'status') reply(status());
    else if (msg.cmd === 'arm') {
      for (const t of tracked) {
        if (t.port !== msg.port) continue;
        t.orphan = true;
        t.attempts = 0;
      }
      reply({ orphans: tracked.filter((t) => t.orphan).length });
    } else if (msg.cmd === 'killed') {
      killedAt = msg.at;
      // Every room gets a broadcast its orphans miss, so each of them must sync to catch up.
      sendChats();
      chatTimer = setInterval(sendChats, msg.chatEveryMs);
      reply({ ok: true });
    } else if (msg.cmd === 'report') {
      const orphans = tracked.filter((t) => t.orphan);
      const recovered = orphans
        .filter((t) => t.syncedAt)
        .map((t) => ({ lostMs: t.lostAt - killedAt, lastAttemptMs: t.lastAttemptAt - killedAt, welcomeMs: t.welcomeAt - killedAt, syncedMs: t.syncedAt - killedAt, attempts: t.attemptsToRecover, refused503: t.refused503, refused429: t.refused429, tcpRefused: t.tcpRefused, gap: t.gap }));
      const report: StormReport = { orphans: orphans.length, recovered, timeline, chats };
      reply({ report });
    } else if (msg.cmd === 'close') {
      clearInterval(chatTimer);
      for (const t of tracked) t.client?.close();
      for (const s of senders) s.close();
      reply({ closed: true });
      setTimeout(() => process.exit(0), 200);
    }
  });
  process.on('disconnect', () => process.exit(0));
}
