/**
 * Scenario 6, holding many idle connections (issue 17 asks for 100,000 on one instance): one
 * server process, as many load processes as their open-file limits need, clients spread over
 * several 127.0.0.x source addresses (one address pair has ~28k ephemeral ports), the server's
 * heartbeat running every `BENCH_PING_MS`, `/health` polled throughout. Reports how many it held,
 * what stopped it short of the target, and the RSS and heap per connection at that count.
 *
 * A process cannot hold more sockets than its RLIMIT_NOFILE: unless `--hold-nocap`, the target is
 * capped at what the server's soft limit leaves (and the report says so); with it, the run tries
 * the full target and reports the first error the clients saw.
 */
import { readFileSync } from 'node:fs';
import { Child, here, login, quantile, sleep, start, startServer, stats, stopServer } from './processes.ts';
import type { HoldConnectResult } from './hold-load.ts';
import type { System } from './protocols.ts';
import type { ServerStats } from './servers/control.ts';

export interface HoldOptions {
  /** Connections wanted (default 100,000). */
  target: number;
  /** How long they are held once connected, in ms. */
  holdMs: number;
  /** The server's heartbeat interval in ms. */
  pingMs: number;
  /** Try the whole target even past the server's open-file limit. */
  nocap: boolean;
}

export interface HoldResult {
  system: System;
  target: number;
  /** What the run aimed at after the cap, and why it is lower than the target. */
  aimed: number;
  capReason?: string;
  opened: number;
  failed: number;
  firstError?: string;
  connectMs: number;
  loads: number;
  addresses: number;
  base: ServerStats;
  held: ServerStats;
  end: ServerStats;
  /** Sockets open at the end of the hold, as the clients count them. */
  openAfterHold: number;
  holdSeconds: number;
  pingsExpected: number;
  health: { ok: number; failed: number; p50: number; p99: number; max: number };
  error?: string;
}

/** Open files a load process keeps for itself besides its sockets. */
const LOAD_RESERVE = 500;
/** What a server process needs besides its client sockets (its own files, /health probes, IPC). */
const SERVER_RESERVE = 100;
/** Connections per source address: well under the ~28k ephemeral ports of one address pair. */
const PER_ADDRESS = 20_000;

function ownFdLimit(): number {
  const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
  const soft = line?.split(/\s{2,}/)[1];
  return soft === 'unlimited' ? 1_000_000 : Number(soft ?? 1024);
}

async function probeHealth(port: number): Promise<{ ms: number; ok: boolean }> {
  const t0 = performance.now();
  try {
    const res = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(5000) });
    await res.arrayBuffer();
    return { ms: performance.now() - t0, ok: res.status === 200 };
  } catch {
    return { ms: performance.now() - t0, ok: false };
  }
}

async function holdOne(system: System, o: HoldOptions): Promise<HoldResult> {
  const { server, port } = await startServer(system, { BENCH_PING_MS: String(o.pingMs) });
  const loads: Child[] = [];
  try {
    const cookie = system === 'ours' ? await login(port) : undefined;
    const url = `ws://127.0.0.1:${port}/api/1/ws/bench/`;
    // Warm-up: the first handshakes compile code; the memory baseline is taken after them.
    const warm = new Child(start(here('./hold-load.ts'), 1));
    await warm.request({ cmd: 'connect', url: `${url}warm`, rooms: 1, count: 200, offset: 0, addresses: ['127.0.0.1'], cookie, concurrency: 20, deadlineMs: 30_000 });
    await warm.request({ cmd: 'close' });
    await warm.exited;
    await sleep(300);
    const base = await stats(server, true);

    let aimed = o.target;
    let capReason: string | undefined;
    const room = base.fdLimit - base.openFds - SERVER_RESERVE;
    if (!o.nocap && base.fdLimit > 0 && room < o.target) {
      aimed = room;
      capReason = `the server process's open-file limit (RLIMIT_NOFILE soft ${base.fdLimit}, hard ${base.fdLimitHard}; ${base.openFds} open before the clients)`;
    }
    const perLoad = Math.max(1000, Math.min(16_000, ownFdLimit() - LOAD_RESERVE));
    const loadCount = Math.ceil(aimed / perLoad);
    const addressCount = Math.max(4, Math.ceil(aimed / PER_ADDRESS));
    const addresses = Array.from({ length: addressCount }, (_, i) => `127.0.0.${i + 2}`);
    for (let i = 0; i < loadCount; i++) loads.push(new Child(start(here('./hold-load.ts'), 1)));

    const t0 = performance.now();
    const share = Math.ceil(aimed / loadCount);
    const results: HoldConnectResult[] = await Promise.all(
      loads.map(async (load, i) => {
        const count = Math.min(share, aimed - i * share);
        const reply = await load.request({ cmd: 'connect', url, rooms: 100, count, offset: i * share, addresses, cookie, concurrency: Math.ceil(64 / loadCount), deadlineMs: 300_000 });
        return reply.result as HoldConnectResult;
      }),
    );
    const connectMs = performance.now() - t0;
    const opened = results.reduce((n, r) => n + r.open, 0);
    const failed = results.reduce((n, r) => n + r.failed, 0);
    const firstError = results.find((r) => r.firstError)?.firstError;
    await sleep(300);
    const held = await stats(server, true);

    // The hold: heartbeats run; /health is asked twice a second and must keep answering.
    const probes: Array<{ ms: number; ok: boolean }> = [];
    const holdStart = performance.now();
    while (performance.now() - holdStart < o.holdMs) {
      const [probe] = await Promise.all([probeHealth(port), sleep(500)]);
      probes.push(probe);
    }
    const holdSeconds = (performance.now() - holdStart) / 1000;
    const end = await stats(server);
    const counts = await Promise.all(loads.map((l) => l.request({ cmd: 'count' })));
    const openAfterHold = counts.reduce((n, c) => n + (c.open as number), 0);
    const oks = Float64Array.from(probes.filter((p) => p.ok).map((p) => p.ms)).sort();
    return {
      system,
      target: o.target,
      aimed,
      ...(capReason ? { capReason } : {}),
      opened,
      failed,
      ...(firstError ? { firstError } : {}),
      connectMs,
      loads: loadCount,
      addresses: addressCount,
      base,
      held,
      end,
      openAfterHold,
      holdSeconds,
      pingsExpected: opened * Math.floor(holdSeconds / (o.pingMs / 1000)),
      health: { ok: oks.length, failed: probes.length - oks.length, p50: quantile(oks, 0.5), p99: quantile(oks, 0.99), max: oks.length ? oks[oks.length - 1]! : NaN },
    };
  } finally {
    await Promise.all(loads.map(async (l) => (await l.request({ cmd: 'close' }), await l.exited)));
    await stopServer(server);
  }
}

const NAMES: Record<System, string> = { ours: 'ours', ws: 'raw ws', socketio: 'Socket.IO 4.8' };
const n0 = (v: number) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : 'n/a');
const n1 = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : 'n/a');

/** Runs scenario 6 for each system; returns its markdown section and the raw results. */
export async function runHold(systems: System[], o: HoldOptions): Promise<{ markdown: string; results: HoldResult[] }> {
  const results: HoldResult[] = [];
  for (const system of systems.filter((s) => s !== 'socketio')) {
    process.stderr.write(`  hold ${o.target} ${system}...\n`);
    try {
      results.push(await holdOne(system, o));
    } catch (err) {
      results.push({ system, error: (err as Error).message } as HoldResult);
    }
  }
  const head = ['system', 'target', 'aimed at', 'held', 'failed', 'connects/s', 'RSS MiB', 'RSS KiB/conn', 'heap KiB/conn', 'open after hold', 'heartbeat µs/ping', 'server CPU % (hold)', '/health ok', '/health p50 ms', '/health p99 ms', '/health max ms'];
  const rows = [head, head.map(() => '---')];
  for (const r of results) {
    if (r.error) {
      rows.push([NAMES[r.system], ...head.slice(1).map(() => 'n/a')]);
      continue;
    }
    const cpu = (s: ServerStats) => s.cpuUser + s.cpuSystem;
    const holdCpu = cpu(r.end) - cpu(r.held);
    rows.push([
      NAMES[r.system],
      n0(r.target),
      n0(r.aimed),
      n0(r.opened),
      n0(r.failed),
      n0(r.opened / (r.connectMs / 1000)),
      n0(r.held.rss / 2 ** 20),
      n1((r.held.rss - r.base.rss) / 1024 / r.opened),
      n1((r.held.heapUsed - r.base.heapUsed) / 1024 / r.opened),
      n0(r.openAfterHold),
      n1(r.pingsExpected ? holdCpu / r.pingsExpected : NaN),
      n0((holdCpu / 1e6 / r.holdSeconds) * 100),
      `${r.health.ok}/${r.health.ok + r.health.failed}`,
      n1(r.health.p50),
      n1(r.health.p99),
      n1(r.health.max),
    ]);
  }
  const notes = results.flatMap((r) => {
    const lines: string[] = [];
    if (r.error) lines.push(`- ${NAMES[r.system]}: failed: ${r.error}`);
    if (r.capReason) lines.push(`- ${NAMES[r.system]}: capped at ${n0(r.aimed)} of ${n0(r.target)} by ${r.capReason}.`);
    if (r.firstError) lines.push(`- ${NAMES[r.system]}: ${n0(r.failed)} connects failed; the first: ${r.firstError}.`);
    if (!r.error) lines.push(`- ${NAMES[r.system]}: ${r.loads} load process(es), ${r.addresses} source addresses, ${n0(r.held.openFds)} fds open in the server while holding; held ${n1(r.holdSeconds)} s with a ping every ${o.pingMs} ms.`);
    return lines;
  });
  const markdown = [
    '## 6. Holding idle connections',
    '',
    `Up to ${n0(o.target)} idle clients on one server process (100 rooms, the session cookie on ours), from several 127.0.0.x source addresses and as many load processes as their open-file limits need; then held for ${o.holdMs / 1000} s with the server's heartbeat every ${o.pingMs / 1000} s and GET /health twice a second. RSS and heap after a full GC, per connection, over the baseline after 200 warm-up connects. Heartbeat µs/ping is the server's CPU over the hold divided by the pings due.`,
    '',
    rows.map((cells) => `| ${cells.join(' | ')} |`).join('\n'),
    '',
    ...notes,
    '',
  ].join('\n');
  return { markdown, results };
}
