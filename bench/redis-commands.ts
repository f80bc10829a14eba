/**
 * `npx tsx bench/redis-commands.ts`: the Redis commands one join and one broadcast cost, on a
 * private redis-server and on a private 3-master Redis Cluster (started here, stopped at the end),
 * counted by each node's `INFO commandstats` (commands run inside a script count too). The app is
 * the shipped one (Dynamic Rooms, a replay namespace) in this process; presence beats are moved
 * out of the measured windows (a long PRESENCE_TTL_MS), the cluster broker's once-a-second
 * `CLUSTER INFO` is shown apart. Prints one markdown table per setup.
 */
import WebSocket from 'ws';
import { buildApp } from '../src/app.ts';
import { loadConfig, type Config } from '../src/config.ts';
import { createLogger } from '../src/log.ts';
import { listen } from '../src/server.ts';
import { startRedisCluster } from '../test/support/redis-cluster.ts';
import { redisCommand, startRedisServer } from '../test/support/redis-server.ts';

const JOINS = 20;
const BROADCASTS = 200;
/** Commands that are no work of a join or a broadcast: the probes, and the reads of this script. */
const BACKGROUND = /^(cluster\|info|cluster\|slots|info|ping|hello|client\|.*)$/;

type Stats = Map<string, number>;

async function commandStats(port: number): Promise<Stats> {
  const text = String(await redisCommand(port, 'INFO', 'commandstats'));
  const out: Stats = new Map();
  for (const match of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out.set(match[1]!, Number(match[2]));
  return out;
}

async function snapshot(ports: number[]): Promise<Map<number, Stats>> {
  return new Map(await Promise.all(ports.map(async (p) => [p, await commandStats(p)] as const)));
}

/** Calls per command between two snapshots, per node, divided by `per`. */
function delta(before: Map<number, Stats>, after: Map<number, Stats>, per: number): Map<number, Map<string, number>> {
  const out = new Map<number, Map<string, number>>();
  for (const [port, stats] of after) {
    const was = before.get(port)!;
    const diff = new Map<string, number>();
    for (const [cmd, calls] of stats) {
      const d = calls - (was.get(cmd) ?? 0);
      if (d > 0) diff.set(cmd, d / per);
    }
    out.set(port, diff);
  }
  return out;
}

function render(title: string, rows: Array<[string, Map<number, Map<string, number>>]>): string {
  const lines = [`### ${title}`, '', '| step | node | commands (per step) | total, work | background |', '| --- | --- | --- | --- | --- |'];
  for (const [step, perNode] of rows) {
    for (const [port, diff] of perNode) {
      const work = [...diff].filter(([cmd]) => !BACKGROUND.test(cmd)).sort(([a], [b]) => a.localeCompare(b));
      const background = [...diff].filter(([cmd]) => BACKGROUND.test(cmd));
      const total = work.reduce((n, [, c]) => n + c, 0);
      const fmt = (list: Array<[string, number]>) => list.map(([cmd, c]) => `${cmd} ${+c.toFixed(2)}`).join(', ') || '-';
      lines.push(`| ${step} | :${port} | ${fmt(work)} | ${+total.toFixed(2)} | ${fmt(background)} |`);
    }
  }
  return lines.join('\n');
}

function open(url: string): Promise<{ socket: WebSocket; frames: Array<Record<string, any>> }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    const frames: Array<Record<string, any>> = [];
    socket.on('message', (raw) => {
      const frame = JSON.parse(String(raw)) as Record<string, any>;
      frames.push(frame);
      if (frame.type === 'welcome') resolve({ socket, frames });
    });
    socket.once('error', reject);
  });
}

async function measure(title: string, redis: Partial<Config>, ports: number[]): Promise<string> {
  const base = loadConfig({});
  // One client sends every chat at once: the per-connection message limits opened up for it.
  const limits = { ...base.limits, messageRate: 1_000_000, messageBurst: 1_000_000, maxPendingMessages: BROADCASTS };
  const config: Config = { ...base, ...redis, limits, redisPrefix: 'cmds:', sessionSecret: 'x'.repeat(32), logLevel: 'silent', presenceTtlMs: 600_000 };
  const built = buildApp(config, { logger: createLogger('silent') });
  await Promise.all([built.rt.broker, built.rt.presence, built.mapStore].map((s) => ('ready' in s && typeof s.ready === 'function' ? s.ready() : undefined)));
  const running = await listen(built, { port: 0, hostname: '127.0.0.1' });
  const ws = (room: string) => `ws://127.0.0.1:${running.port}/api/1/ws/hello-rooms/${room}`;
  try {
    // Warm: scripts loaded, connections to every node open, the first room's channel subscribed.
    const warm = await open(ws('Warm'));
    await built.rt.channels.settled();

    let before = await snapshot(ports);
    const joined = [];
    for (let i = 0; i < JOINS; i++) {
      joined.push(await open(ws(`Join${i}`)));
      await built.rt.channels.settled();
    }
    // onConnect (presence count, the volatile `joined`) runs after the welcome.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const joins = delta(before, await snapshot(ports), JOINS);

    before = await snapshot(ports);
    let acked = 0;
    await new Promise<void>((resolve) => {
      warm.socket.on('message', (raw) => {
        if (JSON.parse(String(raw)).type === 'ack' && ++acked === BROADCASTS) resolve();
      });
      for (let i = 0; i < BROADCASTS; i++) warm.socket.send(JSON.stringify({ type: 'chat', data: { text: `m${i}` }, id: `m${i}` }));
    });
    const broadcasts = delta(before, await snapshot(ports), BROADCASTS);
    for (const c of [warm, ...joined]) c.socket.close();
    return render(title, [
      [`join of a new room (${JOINS}, one client each)`, joins],
      [`chat broadcast in a replay room (${BROADCASTS})`, broadcasts],
    ]);
  } finally {
    await running.close();
  }
}

const server = await startRedisServer();
try {
  console.log(await measure('One Redis', { redisUrl: server.url }, [server.port]));
} finally {
  await server.stop();
}
const cluster = await startRedisCluster();
try {
  const nodes = cluster.nodesString.split(',').map((a) => ({ host: '127.0.0.1', port: Number(a.split(':')[1]) }));
  console.log();
  console.log(await measure('Redis Cluster, 3 masters', { redisClusterNodes: nodes }, cluster.masters.map((m) => m.port)));
} finally {
  await cluster.stop();
}
