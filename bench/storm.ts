/**
 * Scenario 7, a reconnect storm: three instances of the shipped app (`src/app.ts`, Redis broker
 * and presence on the shared Redis under a prefix of their own, default admission control), 10,000
 * clients of the real client library over 100 rooms, spread over the instances, each signed in as
 * a user of its own from 200 source addresses; then one instance is SIGKILLed. Measured: the time
 * from the kill until each of its orphaned clients is connected elsewhere and synced (its `sync`
 * answered: one chat per room is broadcast right after the kill, so each of them has missed one),
 * the attempts it took and the refusals on the way (503/429 from admission, refused TCP connects
 * to the dead instance). Run once per mode: the client's full jitter, the same exponential steps
 * without jitter, and full jitter with admission control off.
 *
 * The instances' own key prefix is deleted from Redis afterwards (SCAN + UNLINK of that prefix
 * only); the shared Redis is never flushed or reconfigured.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { Child, here, quantile, sleep, start } from './processes.ts';
import type { StormMode, StormReport, OrphanRecord } from './storm-load.ts';

export interface StormOptions {
  clients: number;
  rooms: number;
  redisUrl: string;
  /** Each run: the backoff mode and whether admission control is on. */
  runs: Array<{ mode: StormMode; admission: boolean }>;
  /** Bound on the recovery, in ms: a storm not over by then is reported as such. */
  timeoutMs: number;
}

export interface StormResult {
  mode: StormMode;
  admission: boolean;
  orphans: number;
  recovered: OrphanRecord[];
  timeline: Array<[number, number, number]>;
  /** Refusals the surviving instances counted, by reason (their `/metrics`). */
  serverRefused: Record<string, number>;
  setupMs: number;
  /** CPU (ms) of the three instances while the clients (and senders) first connected, and how many did. */
  setupCpuMs: number;
  firstConnects: number;
  /** CPU of the load processes over the storm, in % of one core each. */
  loadsCpuPct: number;
  /** CPU (user + system, ms) the two surviving instances used from the kill to the end of the storm. */
  survivorsCpuMs: number;
  stormMs: number;
  timedOut: boolean;
  error?: string;
}

const ROOT = here('..');
const SECRET = 'storm-secret-that-is-long-enough-0123456789';
const LOADS = 2;
const ADDRESSES = Array.from({ length: 200 }, (_, i) => `127.0.${1 + Math.floor(i / 250)}.${(i % 250) + 2}`);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Instances still running: killed if the runner itself is stopped (they have no IPC channel to notice). */
const running = new Set<ChildProcess>();
/** The key prefix of the run in progress, deleted from Redis however the run ends. */
let current: { redisUrl: string; prefix: string } | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const proc of running) proc.kill('SIGKILL');
    const cleanup = current ? deletePrefix(current.redisUrl, current.prefix) : Promise.resolve();
    void Promise.race([cleanup, sleep(5000)]).finally(() => process.exit(130));
  });
}

interface Instance {
  proc: ChildProcess;
  port: number;
  stderr: string[];
}

function startInstance(port: number, prefix: string, redisUrl: string, admission: boolean): Instance {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_ENV: 'production',
    PORT: String(port),
    HOST: '127.0.0.1',
    REDIS_URL: redisUrl,
    REDIS_PREFIX: prefix,
    SESSION_SECRET: SECRET,
    LOG_LEVEL: 'warn',
    LOG_FORMAT: 'json',
    METRICS: 'public',
    ...(admission ? {} : { WS_ADMISSION_RATE: '0', WS_ADMISSION_RATE_PER_IP: '0' }),
  };
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/app.ts'], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(proc);
  proc.once('exit', () => running.delete(proc));
  const stderr: string[] = [];
  proc.stderr!.on('data', (chunk: Buffer) => {
    stderr.push(chunk.toString());
    if (stderr.length > 20) stderr.shift();
  });
  return { proc, port, stderr };
}

async function ready(instance: Instance, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (instance.proc.exitCode !== null) throw new Error(`instance on ${instance.port} exited: ${instance.stderr.join('').slice(-500)}`);
    try {
      const res = await fetch(`http://127.0.0.1:${instance.port}/ready`);
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await sleep(200);
  }
  throw new Error(`instance on ${instance.port} not ready within ${timeoutMs} ms`);
}

/** CPU time (user + system) of a process so far, in ms, from /proc (Linux). */
function cpuMsOf(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return NaN;
  }
}

async function refusedOf(port: number): Promise<Record<string, number>> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const out: Record<string, number> = {};
    for (const m of text.matchAll(/upgrades_refused_total\{reason="([^"]+)"\} (\d+)/g)) if (Number(m[2]) > 0) out[m[1]!] = Number(m[2]);
    return out;
  } catch {
    return {};
  }
}

async function deletePrefix(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

async function stormOnce(o: StormOptions, mode: StormMode, admission: boolean): Promise<StormResult> {
  const prefix = `bench-storm-${randomUUID().slice(0, 8)}:`;
  current = { redisUrl: o.redisUrl, prefix };
  const ports = await Promise.all([freePort(), freePort(), freePort()]);
  const instances = ports.map((port) => startInstance(port, prefix, o.redisUrl, admission));
  const loads: Child[] = [];
  try {
    await Promise.all(instances.map((i) => ready(i)));
    const t0 = performance.now();
    const cpuAll = () => instances.reduce((n, i) => n + cpuMsOf(i.proc.pid), 0);
    const setupCpu0 = cpuAll();
    for (let i = 0; i < LOADS; i++) loads.push(new Child(start(here('./storm-load.ts'), -1)));
    // Senders on the first instance (never killed): one per room.
    await loads[0]!.request({ cmd: 'senders', port: ports[0], rooms: o.rooms, secret: SECRET });
    const share = Math.ceil(o.clients / LOADS);
    // Paced under the default admission rate of all three instances (3 x 200/s).
    const rate = Math.floor(450 / LOADS);
    await Promise.all(loads.map((l, i) => l.request({ cmd: 'connect', ports, first: i * share, count: Math.min(share, o.clients - i * share), rooms: o.rooms, addresses: ADDRESSES, secret: SECRET, mode, ratePerSecond: rate })));
    const setupDeadline = Date.now() + 120_000;
    for (;;) {
      const all = await Promise.all(loads.map((l) => l.request({ cmd: 'status' })));
      const connected = all.reduce((n, s) => n + s.connected, 0);
      if (connected === o.clients && all[0].sendersUp === o.rooms) break;
      progress(`connected ${connected}/${o.clients}, senders ${all[0].sendersUp}/${o.rooms}`);
      if (Date.now() > setupDeadline) throw new Error(`only ${connected} of ${o.clients} clients connected within 120 s`);
      await sleep(250);
    }
    const setupMs = performance.now() - t0;
    const setupCpuMs = cpuAll() - setupCpu0;
    // Let the joins' presence writes and broadcasts settle, and every connection become "stable".
    await sleep(6000);

    const victim = instances[2]!;
    await Promise.all(loads.map((l) => l.request({ cmd: 'arm', port: victim.port })));
    const cpuBefore = cpuMsOf(instances[0]!.proc.pid) + cpuMsOf(instances[1]!.proc.pid);
    const loadsCpu = async () => (await Promise.all(loads.map((l) => l.request({ cmd: 'status' })))).reduce((n, st) => n + (st.cpuMs as number), 0);
    const loadsBefore = await loadsCpu();
    victim.proc.kill('SIGKILL');
    const at = performance.timeOrigin + performance.now();
    await Promise.all(loads.map((l) => l.request({ cmd: 'killed', at, chatEveryMs: 2000 })));
    const deadline = Date.now() + o.timeoutMs;
    let timedOut = false;
    for (;;) {
      await sleep(250);
      const all = await Promise.all(loads.map((l) => l.request({ cmd: 'status' })));
      const orphans = all.reduce((n, s) => n + s.orphans, 0);
      const recovered = all.reduce((n, s) => n + s.recovered, 0);
      if (recovered === orphans) break;
      progress(`recovered ${recovered}/${orphans}`);
      if (Date.now() > deadline) {
        timedOut = true;
        break;
      }
    }
    const stormMs = performance.timeOrigin + performance.now() - at;
    const survivorsCpuMs = cpuMsOf(instances[0]!.proc.pid) + cpuMsOf(instances[1]!.proc.pid) - cpuBefore;
    const loadsCpuPct = ((await loadsCpu()) - loadsBefore) / stormMs / LOADS * 100;
    const reports: StormReport[] = await Promise.all(loads.map(async (l) => (await l.request({ cmd: 'report' })).report));
    const timeline: Array<[number, number, number]> = [];
    for (const r of reports) r.timeline.forEach((slot, i) => {
      timeline[i] ??= [0, 0, 0];
      for (let k = 0; k < 3; k++) timeline[i]![k]! += slot[k]!;
    });
    const serverRefused: Record<string, number> = {};
    for (const port of ports.slice(0, 2)) for (const [reason, n] of Object.entries(await refusedOf(port))) serverRefused[reason] = (serverRefused[reason] ?? 0) + n;
    return {
      mode,
      admission,
      orphans: reports.reduce((n, r) => n + r.orphans, 0),
      recovered: reports.flatMap((r) => r.recovered),
      timeline,
      serverRefused,
      setupMs,
      setupCpuMs,
      firstConnects: o.clients + o.rooms,
      loadsCpuPct,
      survivorsCpuMs,
      stormMs,
      timedOut,
    };
  } finally {
    await Promise.all(loads.map(async (l) => (await l.request({ cmd: 'close' }), await l.exited)));
    for (const i of instances) if (i.proc.exitCode === null && i.proc.signalCode === null) i.proc.kill('SIGKILL');
    await Promise.all(instances.map((i) => (i.proc.exitCode !== null || i.proc.signalCode !== null ? undefined : new Promise((r) => i.proc.once('exit', r)))));
    await deletePrefix(o.redisUrl, prefix).catch(() => {});
    current = undefined;
  }
}

/** The headline figures of one run (printed as soon as it ends). */
function summary(r: StormResult): Record<string, unknown> {
  if (r.error) return { mode: r.mode, admission: r.admission, error: r.error };
  const synced = Float64Array.from(r.recovered.map((x) => x.syncedMs)).sort();
  return {
    mode: r.mode,
    admission: r.admission,
    orphans: r.orphans,
    recovered: r.recovered.length,
    timedOut: r.timedOut,
    syncedP50s: quantile(synced, 0.5) / 1000,
    syncedP99s: quantile(synced, 0.99) / 1000,
    http503: r.recovered.reduce((n, x) => n + x.refused503, 0),
    survivorsCpuMsPerOrphan: r.survivorsCpuMs / Math.max(1, r.recovered.length),
    setupCpuMsPerConnect: r.setupCpuMs / r.firstConnects,
    loadsCpuPct: r.loadsCpuPct,
    serverRefused: r.serverRefused,
  };
}

let lastProgress = 0;
/** A progress line every few seconds on stderr, so a long run shows where it is. */
function progress(line: string): void {
  if (Date.now() - lastProgress < 3000) return;
  lastProgress = Date.now();
  process.stderr.write(`    ${line}\n`);
}

const s2 = (ms: number) => (Number.isFinite(ms) ? (ms / 1000).toFixed(2) : 'n/a');

/** Runs scenario 7 once per mode; returns its markdown section and the raw results. */
export async function runStorm(o: StormOptions): Promise<{ markdown: string; results: StormResult[] }> {
  const results: StormResult[] = [];
  for (const { mode, admission } of o.runs) {
    process.stderr.write(`  storm ${o.clients} clients, ${mode}, admission ${admission ? 'on' : 'off'}...\n`);
    try {
      results.push(await stormOnce(o, mode, admission));
    } catch (err) {
      results.push({ mode, admission, error: (err as Error).message } as StormResult);
    }
    // Each run's figures as soon as it ends: a storm can take minutes, and a stopped bench keeps them.
    process.stderr.write(`${JSON.stringify(summary(results[results.length - 1]!))}\n`);
  }
  const head = ['backoff', 'admission', 'orphans', 'recovered', 'synced p50 s', 'p90 s', 'p99 s', 'max s', 'socket lost p50 s', 'welcome p50 s', 'welcome p99 s', 'handshake p50 ms', 'handshake p99 ms', 'attempts mean', 'attempts max', 'HTTP 503', 'HTTP 429', 'TCP refused', 'gaps', 'survivors CPU ms per orphan', 'survivors CPU % (of 2 cores)', 'load processes CPU %', 'refused by the survivors (their /metrics)'];
  const rows = [head, head.map(() => '---')];
  const timelines: string[] = [];
  for (const r of results) {
    const label = r.mode === 'jitter' ? 'full jitter (the client)' : 'no jitter (same steps, waited in full)';
    if (r.error) {
      rows.push([label, r.admission ? 'on' : 'off', ...head.slice(2).map(() => 'n/a')]);
      continue;
    }
    const synced = Float64Array.from(r.recovered.map((x) => x.syncedMs)).sort();
    const welcome = Float64Array.from(r.recovered.map((x) => x.welcomeMs)).sort();
    const lost = Float64Array.from(r.recovered.map((x) => x.lostMs)).sort();
    // The attempt that succeeded, from its start to its welcome: the survivors' latency under the storm.
    const handshake = Float64Array.from(r.recovered.map((x) => x.welcomeMs - x.lastAttemptMs)).sort();
    const sum = (f: (x: OrphanRecord) => number) => r.recovered.reduce((n, x) => n + f(x), 0);
    rows.push([
      label,
      r.admission ? 'on' : 'off',
      String(r.orphans),
      `${r.recovered.length}${r.timedOut ? ' (timed out)' : ''}`,
      s2(quantile(synced, 0.5)),
      s2(quantile(synced, 0.9)),
      s2(quantile(synced, 0.99)),
      s2(synced.length ? synced[synced.length - 1]! : NaN),
      s2(quantile(lost, 0.5)),
      s2(quantile(welcome, 0.5)),
      s2(quantile(welcome, 0.99)),
      quantile(handshake, 0.5).toFixed(0),
      quantile(handshake, 0.99).toFixed(0),
      (sum((x) => x.attempts) / Math.max(1, r.recovered.length)).toFixed(2),
      String(r.recovered.reduce((m, x) => Math.max(m, x.attempts), 0)),
      String(sum((x) => x.refused503)),
      String(sum((x) => x.refused429)),
      String(sum((x) => x.tcpRefused)),
      String(r.recovered.filter((x) => x.gap).length),
      (r.survivorsCpuMs / Math.max(1, r.recovered.length)).toFixed(1),
      ((r.survivorsCpuMs / r.stormMs / 2) * 100).toFixed(0),
      r.loadsCpuPct.toFixed(0),
      Object.entries(r.serverRefused).map(([k, v]) => `${k} ${v}`).join(', ') || 'none',
    ]);
    // Per second after the kill: orphans welcomed / HTTP refusals.
    const perSecond: Array<[number, number]> = [];
    r.timeline.forEach(([w, h], i) => {
      const s = Math.floor(i / 4);
      perSecond[s] ??= [0, 0];
      perSecond[s]![0] += w;
      perSecond[s]![1] += h;
    });
    timelines.push(`- ${label}, admission ${r.admission ? 'on' : 'off'}: set-up ${(r.setupMs / 1000).toFixed(1)} s, instances' CPU ${(r.setupCpuMs / (o.clients + o.rooms)).toFixed(1)} ms per first connect; storm ${(r.stormMs / 1000).toFixed(1)} s`);
    timelines.push(`- ${label}, admission ${r.admission ? 'on' : 'off'}: ${perSecond.map(([w, h], s) => `${s}-${s + 1} s ${w}/${h}`).join(', ')}`);
  }
  const markdown = [
    '## 7. Reconnect storm',
    '',
    `Three instances of the shipped app on Redis (broker and presence; admission at its defaults: 200 upgrades/s and a burst of 400 per instance, 20/s and 40 per address), ${o.clients.toLocaleString('en-US')} clients of the client library over ${o.rooms} rooms, each its own user, from ${ADDRESSES.length} source addresses, behind a bench-only balancer (random live instance per attempt, an instance that refuses TCP is dropped); one instance SIGKILLed. Times from the kill to each orphan's welcome elsewhere, and to its sync answered (a chat was broadcast into every room right after the kill). Attempts and refusals are the orphans' own.`,
    '',
    rows.map((cells) => `| ${cells.join(' | ')} |`).join('\n'),
    '',
    'Orphans welcomed / upgrades refused (HTTP), per second after the kill:',
    '',
    ...timelines,
    '',
    ...results.filter((r) => r.error).map((r) => `- ${r.mode}, admission ${r.admission ? 'on' : 'off'}: failed: ${r.error}`),
  ].join('\n');
  return { markdown, results };
}
