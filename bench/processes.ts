/**
 * The processes of a bench run: servers and load processes forked with an IPC channel, pinned to
 * a core when `taskset` exists, and the requests the runner sends them.
 */
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import type { System } from './protocols.ts';
import type { ServerStats } from './servers/control.ts';

export const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
export const RESULTS = here('./results');
export const SERVER_SCRIPT: Record<System, string> = { ours: here('./servers/ours.ts'), ws: here('./servers/raw-ws.ts'), socketio: here('./servers/socketio.ts') };
export const hasTaskset = spawnSync('taskset', ['-V']).status === 0 && os.cpus().length >= 2;

/** A child with a request/response channel over IPC. */
export class Child {
  readonly #waiting = new Map<number, (msg: any) => void>();
  #id = 0;
  readonly exited: Promise<number | null>;
  constructor(
    readonly proc: ChildProcess,
    onMessage?: (msg: any) => void,
  ) {
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

/** Pins every thread of `pid` to `core` (when taskset exists). */
export function pin(pid: number, core: number): void {
  if (hasTaskset) spawnSync('taskset', ['-a', '-p', '-c', String(core), String(pid)], { stdio: 'ignore' });
}

/** Forks `script` under tsx with `--expose-gc`, pinned to `core` (-1: not pinned). */
export function start(script: string, core: number, execArgv: string[] = [], env: Record<string, string> = {}): ChildProcess {
  const proc = fork(script, [], {
    execArgv: ['--import', 'tsx', '--expose-gc', ...execArgv],
    env: { ...process.env, BENCH_CHILD: '1', NODE_ENV: 'production', ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  if (core >= 0) pin(proc.pid!, core);
  return proc;
}

/** Starts a bench server of `system` on core 0; resolves with it and its port once it listens. */
export async function startServer(system: System, env: Record<string, string> = {}, execArgv: string[] = []): Promise<{ server: Child; port: number }> {
  let ready!: (port: number) => void;
  const port = new Promise<number>((resolve) => (ready = resolve));
  const server = new Child(start(SERVER_SCRIPT[system], 0, execArgv, env), (msg) => msg.ready && ready(msg.port));
  const failed = server.exited.then((code) => Promise.reject(new Error(`${system} server exited with ${code} before it was ready`)));
  return { server, port: await Promise.race([port, failed]) };
}

/** A server's CPU and memory (after two full GCs with `gc`). */
export const stats = async (server: Child, gc = false) => (await server.request({ cmd: 'stats', gc })).stats as ServerStats;

/** Stops a bench server and waits for its exit. */
export async function stopServer(server: Child): Promise<void> {
  await server.request({ cmd: 'stop' });
  await server.exited;
}

/** Signs in as `username` on a bench server (ours) and returns the session cookie. */
export async function login(port: number, username = 'bench'): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/api/1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username }),
  });
  if (res.status !== 200) throw new Error(`login failed: HTTP ${res.status}`);
  return res.headers.get('set-cookie')!.split(';')[0]!;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Quantile `q` of `sorted` (ascending); NaN when empty. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! : NaN;
}
