/**
 * `npm run bench`: runs every scenario against our server and the two baselines, one server
 * process pinned to core 0 and one load process pinned to core 1 (when `taskset` exists), prints
 * markdown tables and writes the figures as JSON to bench/results/.
 *
 * Options: --quick (short runs to validate the harness), --only=fanout,latency,... (scenario ids),
 * --systems=ours,ws,socketio, --cpu-prof (profiles of the servers in bench/results/profiles),
 * --redis=shared|private|cluster for the cross-instance scenario: the Redis at REDIS_URL (default),
 * a private redis-server, or a private 3-master Redis Cluster (ours only: Socket.IO's Redis
 * adapter has no cluster mode), both started here; each node's INFO commandstats over the
 * measured window is printed after the scenario's table.
 * --profile-window (a profile of the measured window only: the connects of `idle`, the load
 * window of the others; read it with `npx tsx bench/profile.ts FILE`).
 *
 * Two scenarios run only when named in --only, as they take the whole machine for minutes:
 * `hold` (scenario 6: --hold-connections=100000, --hold-ms=15000, --hold-ping-ms=5000,
 * --hold-nocap) and `storm` (scenario 7, needs Redis: --storm-clients=10000,
 * --storm-runs=jitter:on,nojitter:on,jitter:off as backoff:admission).
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import os from 'node:os';
import type { LoadResult } from './load.ts';
import type { ServerStats } from './servers/control.ts';
import { runHold } from './hold.ts';
import { Child, hasTaskset, here, RESULTS, start, startServer as startBenchServer, stats, stopServer } from './processes.ts';
import { SYSTEMS, type System } from './protocols.ts';
import { scenarios, type RunSpec } from './scenarios.ts';
import { figures, renderRedisCalls, renderScenario, type RunResult } from './report.ts';
import { runStorm } from './storm.ts';
import type { StormMode } from './storm-load.ts';
import { startRedisCluster, type RedisCluster } from '../test/support/redis-cluster.ts';
import { redisCommand, startRedisServer, type RedisServer } from '../test/support/redis-server.ts';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string | undefined]));
const quick = args.has('quick');
const only = args.get('only')?.split(',');
const systems = (args.get('systems')?.split(',') as System[] | undefined) ?? [...SYSTEMS];
const cpuProf = args.has('cpu-prof');
const profileWindow = args.has('profile-window');
let REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const numberArg = (name: string, fallback: number) => (args.get(name) !== undefined ? Number(args.get(name)) : fallback);
const redisMode = args.get('redis') ?? 'shared';
if (!['shared', 'private', 'cluster'].includes(redisMode)) throw new Error(`--redis=${redisMode}: expected shared, private or cluster`);
/** The private cluster of --redis=cluster, once started. */
let cluster: RedisCluster | undefined;

/** The Redis nodes whose commandstats a cross-instance run reports. */
function redisPorts(): number[] {
  return cluster ? cluster.masters.map((m) => m.port) : [Number(new URL(REDIS_URL).port || 6379)];
}

/** Calls per command on every node (INFO commandstats). */
async function commandStats(): Promise<Record<string, Record<string, number>>> {
  const out: Record<string, Record<string, number>> = {};
  for (const port of redisPorts()) {
    const text = String(await redisCommand(port, 'INFO', 'commandstats'));
    out[`:${port}`] = Object.fromEntries([...text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)].map((m) => [m[1]!, Number(m[2])]));
  }
  return out;
}

function startServer(system: System, env: Record<string, string> = {}) {
  return startBenchServer(system, env, cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${RESULTS}/profiles`] : []);
}

async function runOne(spec: RunSpec, system: System): Promise<RunResult> {
  // Cross-instance runs: `instances` servers share Redis and the clients, one more hosts none of the busy rooms.
  const count = spec.instances ? spec.instances + 1 : 1;
  const redisEnv: Record<string, string> = cluster ? { BENCH_REDIS_CLUSTER_NODES: cluster.nodesString } : { BENCH_REDIS_URL: REDIS_URL };
  const env: Record<string, string> = spec.instances ? { ...redisEnv, BENCH_REDIS_PREFIX: `bench-${randomUUID().slice(0, 8)}:` } : {};
  if (spec.instances && cluster && system !== 'ours') return { system, spec, load: undefined, server: undefined, error: 'no cluster mode in its Redis adapter' } as unknown as RunResult;
  const started = await Promise.allSettled(Array.from({ length: count }, () => startServer(system, env)));
  const servers = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  try {
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    const primary = servers[0]!.server;
    const marks: Record<string, { stats: ServerStats; at: number; all: ServerStats[] }> = {};
    const calls: Record<string, Record<string, Record<string, number>>> = {};
    const before = await stats(primary, true);
    // The measured window: from after the warm-up connects to the memory reading in `idle`.
    const [opens, closes] = spec.kind === 'idle' ? ['before', 'start'] : ['start', 'end'];
    const profileFile = `${RESULTS}/profiles/${spec.kind}-${system}-${new Date().toISOString().replace(/[:.]/g, '-')}.cpuprofile`;
    const onMark = async (name: string, gc: boolean) => {
      // Stopped before the reading (its forced GC stays out of the profile), started after it.
      if (profileWindow && name === closes) await primary.request({ cmd: 'profile', action: 'stop', file: profileFile });
      const all = await Promise.all(servers.map((s) => stats(s.server, gc)));
      marks[name] = { stats: all[0]!, at: performance.now(), all };
      if (profileWindow && name === opens) await primary.request({ cmd: 'profile', action: 'start' });
    };
    if (profileWindow) mkdirSync(`${RESULTS}/profiles`, { recursive: true });
    const outcome = await new Promise<LoadResult>((resolve, reject) => {
      const load = new Child(start(here('./load.ts'), 1), (msg) => {
        if (msg.mark) {
          const redisCalls = spec.instances && msg.mark !== 'before' ? commandStats() : Promise.resolve(undefined);
          void Promise.all([onMark(msg.mark, msg.gc), redisCalls]).then(([, counted]) => {
            if (counted) calls[msg.mark] = counted;
            load.proc.send({ markDone: msg.id });
          });
        } else if (msg.result) resolve(msg.result);
        else if (msg.error) reject(new Error(msg.error));
      });
      void load.exited.then((code) => reject(new Error(`load process exited with ${code}`)));
      const { label: _label, instances, ...job } = spec;
      const ports = servers.map((s) => s.port);
      load.proc.send({ job: { ...job, system, ports: instances ? ports.slice(0, instances) : ports, ...(instances ? { quietPort: ports[instances] } : {}) } });
    });
    const result: RunResult = { system, spec, load: outcome, server: { before, warm: marks.before, start: marks.start, end: marks.end } };
    if (profileWindow) process.stderr.write(`    profile: ${profileFile}\n`);
    if (spec.instances && marks.start && marks.end) {
      const cpu = (s: ServerStats) => s.cpuUser + s.cpuSystem;
      const busy = (m: ServerStats[]) => m.slice(0, spec.instances).reduce((n, s) => n + cpu(s), 0);
      result.cluster = {
        cpuUs: busy(marks.end.all) - busy(marks.start.all),
        quietBrokerBytesIn: marks.end.all[spec.instances]!.brokerBytesIn - marks.start.all[spec.instances]!.brokerBytesIn,
      };
      if (calls.start && calls.end) {
        result.redisCalls = Object.fromEntries(
          Object.entries(calls.end).map(([node, end]) => [node, Object.fromEntries(Object.entries(end).map(([cmd, n]) => [cmd, n - (calls.start![node]?.[cmd] ?? 0)]).filter(([, n]) => (n as number) > 0))]),
        );
      }
    }
    return result;
  } catch (err) {
    return { system, spec, load: undefined, server: undefined, error: (err as Error).message.split('\n')[0]! } as unknown as RunResult;
  } finally {
    for (const { server } of servers) await stopServer(server);
  }
}

/** Whether Redis answers at REDIS_URL (the cross-instance scenario needs it). */
function redisReachable(): Promise<boolean> {
  const url = new URL(REDIS_URL);
  return new Promise((resolve) => {
    const socket = connect({ host: url.hostname, port: Number(url.port || 6379) });
    socket.setTimeout(1000, () => socket.destroy());
    socket.once('connect', () => {
      socket.end();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('close', () => resolve(false));
  });
}

async function main(): Promise<void> {
  mkdirSync(RESULTS, { recursive: true });
  const machine = `${os.cpus()[0]?.model ?? 'unknown CPU'} x${os.cpus().length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`;
  const lines = [
    `# Benchmark ${new Date().toISOString()}${quick ? ' (quick)' : ''}`,
    '',
    `Machine: ${machine}; load average at start ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}. ${hasTaskset ? 'Server pinned to core 0, load to core 1 (taskset).' : 'No taskset: processes not pinned.'}`,
    '',
  ];
  console.log(lines.join('\n'));
  const all: Record<string, RunResult[]> = {};
  let privateRedis: RedisServer | undefined;
  const crossWanted = scenarios(quick).some((sc) => sc.runs.some((r) => r.instances) && (!only || only.includes(sc.id)));
  if (crossWanted && redisMode === 'private') {
    privateRedis = await startRedisServer();
    REDIS_URL = privateRedis.url;
  }
  if (crossWanted && redisMode === 'cluster') cluster = await startRedisCluster();
  const where = cluster ? `a private 3-master Redis Cluster (${cluster.nodesString})` : privateRedis ? `a private redis-server (${REDIS_URL})` : `the Redis at ${REDIS_URL}`;
  if (crossWanted) lines.push(`Cross-instance runs on ${where}.`, '');
  for (const scenario of scenarios(quick)) {
    if (only && !only.includes(scenario.id)) continue;
    if (scenario.runs.some((r) => r.instances) && !cluster && !(await redisReachable())) {
      const note = `## ${scenario.title}\n\nSKIPPED: Redis is not reachable at ${REDIS_URL} (set REDIS_URL).\n`;
      console.log(note);
      lines.push(note);
      continue;
    }
    const results: RunResult[] = [];
    for (const spec of scenario.runs) {
      for (const system of systems.filter((sys) => !scenario.systems || scenario.systems.includes(sys))) {
        process.stderr.write(`  ${scenario.id} ${spec.label} ${system}...\n`);
        results.push(await runOne(spec, system));
      }
    }
    all[scenario.id] = results;
    const table = renderScenario(scenario, results) + renderRedisCalls(results);
    console.log(table);
    lines.push(table);
  }
  const extra: Record<string, unknown> = {};
  if (only?.includes('hold')) {
    const hold = await runHold(systems, {
      target: numberArg('hold-connections', quick ? 2000 : 100_000),
      holdMs: numberArg('hold-ms', quick ? 5000 : 15_000),
      pingMs: numberArg('hold-ping-ms', quick ? 2000 : 5000),
      nocap: args.has('hold-nocap'),
    });
    console.log(hold.markdown);
    lines.push(hold.markdown);
    extra.hold = hold.results;
  }
  if (only?.includes('storm')) {
    if (!(await redisReachable())) {
      const note = `## 7. Reconnect storm\n\nSKIPPED: Redis is not reachable at ${REDIS_URL} (set REDIS_URL).\n`;
      console.log(note);
      lines.push(note);
    } else {
      const runs = (args.get('storm-runs') ?? 'jitter:on,nojitter:on,jitter:off').split(',').map((r) => {
        const [mode, admission] = r.split(':');
        if ((mode !== 'jitter' && mode !== 'nojitter') || (admission !== 'on' && admission !== 'off')) throw new Error(`--storm-runs: expected backoff:admission as jitter|nojitter:on|off, got ${r}`);
        return { mode: mode as StormMode, admission: admission === 'on' };
      });
      const storm = await runStorm({ clients: numberArg('storm-clients', quick ? 1000 : 10_000), rooms: quick ? 10 : 100, redisUrl: REDIS_URL, runs, timeoutMs: 120_000 });
      console.log(storm.markdown);
      lines.push(storm.markdown);
      extra.storm = storm.results;
    }
  }
  await privateRedis?.stop();
  await cluster?.stop();
  const end = `Load average at the end: ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} (other processes on the same cores make absolute figures drift; compare the ratios).`;
  console.log(end);
  lines.push(end);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const results = Object.fromEntries(Object.entries(all).map(([id, runs]) => [id, runs.map((r) => ({ figures: figures(id, r), ...r }))]));
  const json = { at: new Date().toISOString(), quick, machine, pinned: hasTaskset, results, ...extra };
  writeFileSync(`${RESULTS}/bench-${stamp}.json`, JSON.stringify(json, null, 2));
  writeFileSync(`${RESULTS}/latest.json`, JSON.stringify(json, null, 2));
  writeFileSync(`${RESULTS}/latest.md`, lines.join('\n'));
  console.log(`JSON: bench/results/bench-${stamp}.json`);
}

await main();
