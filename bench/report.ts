/**
 * Turns raw run results into the figures of each scenario and renders them as markdown, with
 * our figure divided by each baseline's beside it (ratios survive a noisy machine better than
 * absolute figures).
 */
import type { LoadResult } from './load.ts';
import type { System } from './protocols.ts';
import type { Scenario, RunSpec } from './scenarios.ts';
import type { ServerStats } from './servers/control.ts';

export interface RunResult {
  system: System;
  spec: RunSpec;
  load: LoadResult;
  /** Why the run produced no figures (its figures are then n/a). */
  error?: string;
  /** Cross-instance runs: CPU of the instances hosting clients, bytes from Redis of the one that hosts none. */
  cluster?: { cpuUs: number; quietBrokerBytesIn: number };
  /** Cross-instance runs: calls per command on each Redis node (`:port`) over the measured window. */
  redisCalls?: Record<string, Record<string, number>>;
  server: { before: ServerStats; warm?: { stats: ServerStats; at: number }; start?: { stats: ServerStats; at: number }; end?: { stats: ServerStats; at: number } };
}

/** A figure of a run: its name, unit-formatted value, and whether ours/baseline is printed. */
interface Metric {
  name: string;
  value: (r: RunResult) => number;
  digits: number;
  ratio?: boolean;
}

/** Above this the load process itself is the bottleneck and deliveries/s says little about the server. */
export const CLIENT_BOUND_PCT = 90;

/** Server memory before the measured connects: after the warm-up when there was one. */
const baseline = (r: RunResult) => r.server.warm?.stats ?? r.server.before;
const cpuOf = (s: ServerStats) => s.cpuUser + s.cpuSystem;
const serverCpuUs = (r: RunResult) => (r.server.start && r.server.end ? cpuOf(r.server.end.stats) - cpuOf(r.server.start.stats) : NaN);
const perSecond = (r: RunResult) => r.load.deliveries / r.load.seconds;
const serverPct = (r: RunResult) => (serverCpuUs(r) / 1e6 / r.load.seconds) * 100;
const clientPct = (r: RunResult) => r.load.clientCpuPct;
const lat = (k: 'p50' | 'p99' | 'p999' | 'max') => (r: RunResult) => r.load.latency?.[k] ?? NaN;

const METRICS: Record<string, Metric[]> = {
  fanout: [
    { name: 'deliveries/s', value: perSecond, digits: 0, ratio: true },
    { name: 'server µs/delivery', value: (r) => serverCpuUs(r) / r.load.deliveries, digits: 3, ratio: true },
    { name: 'server CPU %', value: serverPct, digits: 0 },
    { name: 'client CPU %', value: clientPct, digits: 0 },
  ],
  latency: [
    { name: 'p50 ms', value: lat('p50'), digits: 2 },
    { name: 'p99 ms', value: lat('p99'), digits: 2, ratio: true },
    { name: 'p99.9 ms', value: lat('p999'), digits: 2 },
    { name: 'max ms', value: lat('max'), digits: 2 },
    { name: 'lost', value: (r) => r.load.latency?.missing ?? NaN, digits: 0 },
    { name: 'server CPU %', value: serverPct, digits: 0 },
    { name: 'client CPU %', value: clientPct, digits: 0 },
  ],
  idle: [
    { name: 'connects/s', value: (r) => r.load.connects / (r.load.connectMs / 1000), digits: 0, ratio: true },
    { name: 'RSS KiB/conn', value: (r) => (r.server.start!.stats.rss - baseline(r).rss) / 1024 / r.load.connects, digits: 1, ratio: true },
    { name: 'heap KiB/conn', value: (r) => (r.server.start!.stats.heapUsed - baseline(r).heapUsed) / 1024 / r.load.connects, digits: 1, ratio: true },
    { name: 'server µs/connect', value: (r) => (cpuOf(r.server.start!.stats) - cpuOf(baseline(r))) / r.load.connects, digits: 0, ratio: true },
    { name: 'server CPU % (connecting)', value: (r) => ((cpuOf(r.server.start!.stats) - cpuOf(baseline(r))) / 1e6 / r.load.seconds) * 100, digits: 0 },
    { name: 'client CPU % (connecting)', value: clientPct, digits: 0 },
  ],
  mux: [
    { name: 'clients/s', value: (r) => r.load.connects / (r.load.connectMs / 1000), digits: 0 },
    { name: 'namespaces joined/s', value: (r) => (r.load.connects * (r.spec.subscriptions ?? 1)) / (r.load.connectMs / 1000), digits: 0 },
    { name: 'RSS KiB/client', value: (r) => (r.server.start!.stats.rss - baseline(r).rss) / 1024 / r.load.connects, digits: 1 },
    { name: 'heap KiB/client', value: (r) => (r.server.start!.stats.heapUsed - baseline(r).heapUsed) / 1024 / r.load.connects, digits: 1 },
    { name: 'server µs/client', value: (r) => (cpuOf(r.server.start!.stats) - cpuOf(baseline(r))) / r.load.connects, digits: 0 },
    { name: 'client CPU % (connecting)', value: clientPct, digits: 0 },
  ],
  cross: [
    { name: 'deliveries/s', value: perSecond, digits: 0, ratio: true },
    { name: 'servers µs/delivery', value: (r) => (r.cluster?.cpuUs ?? NaN) / r.load.deliveries, digits: 3, ratio: true },
    { name: 'p50 ms', value: lat('p50'), digits: 2 },
    { name: 'p99 ms', value: lat('p99'), digits: 2, ratio: true },
    { name: 'lost', value: (r) => r.load.latency?.missing ?? NaN, digits: 0 },
    { name: 'quiet instance KiB/s from Redis', value: (r) => (r.cluster?.quietBrokerBytesIn ?? NaN) / 1024 / r.load.seconds, digits: 1 },
    { name: 'client CPU %', value: clientPct, digits: 0 },
  ],
  slow: [
    { name: 'RSS growth MiB', value: (r) => (r.server.end!.stats.rss - r.server.start!.stats.rss) / 2 ** 20, digits: 1 },
    { name: 'p50 ms (others)', value: lat('p50'), digits: 2 },
    { name: 'p99 ms (others)', value: lat('p99'), digits: 2, ratio: true },
    { name: 'max ms', value: lat('max'), digits: 2 },
    { name: 'server CPU %', value: serverPct, digits: 0 },
    { name: 'client CPU %', value: clientPct, digits: 0 },
  ],
};

const NAMES: Record<System, string> = { ours: 'ours', ws: 'raw ws', socketio: 'Socket.IO 4.8' };

/** The figures of one run, by metric name (what the JSON file keeps beside the raw counters). */
export function figures(scenarioId: string, r: RunResult): Record<string, number> {
  if (r.error) return {};
  return Object.fromEntries(METRICS[scenarioId]!.map((m) => [m.name, m.value(r)]));
}

const fmt = (v: number, digits: number) =>
  Number.isFinite(v) ? v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a';

/** One markdown table per scenario: a row per configuration and system, ratios on baseline rows. */
export function renderScenario(scenario: Scenario, results: RunResult[]): string {
  const metrics = METRICS[scenario.id]!;
  const ratioMetrics = metrics.filter((m) => m.ratio);
  const head = ['run', 'system', ...metrics.map((m) => m.name), ...ratioMetrics.map((m) => `ours ÷ this, ${m.name}`), 'note'];
  const rows = [head, head.map(() => '---')];
  for (const spec of scenario.runs) {
    const group = results.filter((r) => r.spec === spec);
    const ours = group.find((r) => r.system === 'ours');
    for (const r of group) {
      if (r.error) {
        rows.push([spec.label, NAMES[r.system], ...metrics.map(() => 'n/a'), ...ratioMetrics.map(() => ''), `failed: ${r.error}`]);
        continue;
      }
      const ratio = (m: Metric) => (ours && !ours.error && r !== ours ? m.value(ours) / m.value(r) : NaN);
      const ratios = ratioMetrics.map((m) => (Number.isFinite(ratio(m)) ? `${fmt(ratio(m), 2)}x` : ''));
      const note = r.load.clientCpuPct >= CLIENT_BOUND_PCT ? 'client-bound' : '';
      rows.push([spec.label, NAMES[r.system], ...metrics.map((m) => fmt(m.value(r), m.digits)), ...ratios, note]);
    }
  }
  const table = rows.map((cells) => `| ${cells.join(' | ')} |`).join('\n');
  return `## ${scenario.title}\n\n${scenario.measures}\n\n${table}\n`;
}

/** Probes and connection set-up, shown apart from the work of the broadcasts. */
const BACKGROUND_COMMANDS = /^(cluster\|info|cluster\|slots|info|ping|hello|client\|.*)$/;

/**
 * How the Redis work of each cross-instance run spread over the nodes: calls/s per node, its share
 * of all calls, and the commands that make it up (INFO commandstats counts the commands a script
 * runs too; a broadcast of the bench's replay namespace is one EVALSHA of the append script).
 */
export function renderRedisCalls(results: RunResult[]): string {
  const rows = results.filter((r) => r.redisCalls && r.load);
  if (rows.length === 0) return '';
  const lines = ['', 'Redis commands per node over the measured window (INFO commandstats; probes and connection set-up apart):', '', '| run | system | node | calls/s | share | commands/s | probes/s |', '| --- | --- | --- | --- | --- | --- | --- |'];
  for (const r of rows) {
    const perNode = Object.entries(r.redisCalls!).map(([node, calls]) => {
      const work = Object.entries(calls).filter(([cmd]) => !BACKGROUND_COMMANDS.test(cmd)).sort(([a], [b]) => a.localeCompare(b));
      const probes = Object.entries(calls).filter(([cmd]) => BACKGROUND_COMMANDS.test(cmd)).reduce((n, [, c]) => n + c, 0);
      return { node, work, probes, total: work.reduce((n, [, c]) => n + c, 0) };
    });
    const all = perNode.reduce((n, p) => n + p.total, 0);
    for (const { node, work, probes, total } of perNode) {
      const mix = work.map(([cmd, c]) => `${cmd} ${fmt(c / r.load.seconds, 0)}`).join(', ');
      lines.push(`| ${r.spec.label} | ${NAMES[r.system]} | ${node} | ${fmt(total / r.load.seconds, 0)} | ${fmt((total / all) * 100, 0)}% | ${mix} | ${fmt(probes / r.load.seconds, 1)} |`);
    }
  }
  return lines.join('\n') + '\n';
}
