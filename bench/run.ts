/**
 * `npm run bench`: runs every scenario against our server and the two baselines, one server
 * process pinned to core 0 and one load process pinned to core 1 (when `taskset` exists), prints
 * markdown tables and writes the figures as JSON to bench/results/.
 *
 * Options: --quick (short runs to validate the harness), --only=fanout,latency,... (scenario ids),
 * --systems=ours,ws,socketio, --cpu-prof (profiles of the servers in bench/results/profiles).
 */
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import type { ServerStats } from './servers/control.ts';
import type { LoadResult } from './load.ts';
import { SYSTEMS, type System } from './protocols.ts';
import { scenarios, type RunSpec } from './scenarios.ts';
import { renderScenario, type RunResult } from './report.ts';

const args = new Map(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string | undefined]));
const quick = args.has('quick');
const only = args.get('only')?.split(',');
const systems = (args.get('systems')?.split(',') as System[] | undefined) ?? [...SYSTEMS];
const cpuProf = args.has('cpu-prof');
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const RESULTS = here('./results');
const SERVER_SCRIPT: Record<System, string> = { ours: here('./servers/ours.ts'), ws: here('./servers/raw-ws.ts'), socketio: here('./servers/socketio.ts') };
const hasTaskset = spawnSync('taskset', ['-V']).status === 0 && os.cpus().length >= 2;

/** A child with a request/response channel over IPC. */
class Child {
  readonly #waiting = new Map<number, (msg: any) => void>();
  #id = 0;
  readonly exited: Promise<number | null>;
  constructor(readonly proc: ChildProcess, onMessage?: (msg: any) => void) {
    proc.on('message', (msg: any) => {
      if (msg.id !== undefined && this.#waiting.has(msg.id) && !msg.mark) {
        this.#waiting.get(msg.id)!(msg);
        this.#waiting.delete(msg.id);
      } else onMessage?.(msg);
    });
    this.exited = new Promise((resolve) => proc.on('exit', (code) => resolve(code)));
  }
  request(msg: object): Promise<any> {
    const id = ++this.#id;
    return new Promise((resolve) => {
      this.#waiting.set(id, resolve);
      this.proc.send({ ...msg, id });
    });
  }
}

function pin(pid: number, core: number): void {
  if (hasTaskset) spawnSync('taskset', ['-a', '-p', '-c', String(core), String(pid)], { stdio: 'ignore' });
}

function start(script: string, core: number, execArgv: string[] = []): ChildProcess {
  const proc = fork(script, [], {
    execArgv: ['--import', 'tsx', '--expose-gc', ...execArgv],
    env: { ...process.env, BENCH_CHILD: '1', NODE_ENV: 'production' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  pin(proc.pid!, core);
  return proc;
}

async function startServer(system: System): Promise<{ server: Child; port: number }> {
  const prof = cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${RESULTS}/profiles`] : [];
  let ready!: (port: number) => void;
  const port = new Promise<number>((resolve) => (ready = resolve));
  const server = new Child(start(SERVER_SCRIPT[system], 0, prof), (msg) => msg.ready && ready(msg.port));
  const failed = server.exited.then((code) => Promise.reject(new Error(`${system} server exited with ${code} before it was ready`)));
  return { server, port: await Promise.race([port, failed]) };
}

async function runOne(spec: RunSpec, system: System): Promise<RunResult> {
  const { server, port } = await startServer(system);
  const marks: Record<string, { stats: ServerStats; at: number }> = {};
  const before = (await server.request({ cmd: 'stats', gc: true })).stats as ServerStats;
  try {
    const outcome = await new Promise<LoadResult>((resolve, reject) => {
      const load = new Child(start(here('./load.ts'), 1), (msg) => {
        if (msg.mark) {
          void server.request({ cmd: 'stats', gc: msg.gc }).then((reply) => {
            marks[msg.mark] = { stats: reply.stats, at: performance.now() };
            load.proc.send({ markDone: msg.id });
          });
        } else if (msg.result) resolve(msg.result);
        else if (msg.error) reject(new Error(msg.error));
      });
      void load.exited.then((code) => reject(new Error(`load process exited with ${code}`)));
      const { label: _label, instances: _instances, ...job } = spec;
      load.proc.send({ job: { ...job, system, ports: [port] } });
    });
    return { system, spec, load: outcome, server: { before, warm: marks.before, start: marks.start, end: marks.end } };
  } finally {
    await server.request({ cmd: 'stop' });
    await server.exited;
  }
}

async function main(): Promise<void> {
  mkdirSync(RESULTS, { recursive: true });
  const machine = `${os.cpus()[0]?.model ?? 'unknown CPU'} x${os.cpus().length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`;
  const lines = [
    `# Benchmark ${new Date().toISOString()}${quick ? ' (quick)' : ''}`,
    '',
    `Machine: ${machine}. ${hasTaskset ? 'Server pinned to core 0, load to core 1 (taskset).' : 'No taskset: processes not pinned.'}`,
    '',
  ];
  console.log(lines.join('\n'));
  const all: Record<string, RunResult[]> = {};
  for (const scenario of scenarios(quick)) {
    if (only && !only.includes(scenario.id)) continue;
    const results: RunResult[] = [];
    for (const spec of scenario.runs) {
      for (const system of systems) {
        process.stderr.write(`  ${scenario.id} ${spec.label} ${system}...\n`);
        results.push(await runOne(spec, system));
      }
    }
    all[scenario.id] = results;
    const table = renderScenario(scenario, results);
    console.log(table);
    lines.push(table);
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const json = { at: new Date().toISOString(), quick, machine, pinned: hasTaskset, results: all };
  writeFileSync(`${RESULTS}/bench-${stamp}.json`, JSON.stringify(json, null, 2));
  writeFileSync(`${RESULTS}/latest.json`, JSON.stringify(json, null, 2));
  writeFileSync(`${RESULTS}/latest.md`, lines.join('\n'));
  console.log(`JSON: bench/results/bench-${stamp}.json`);
}

await main();
