/**
 * The control channel of a server under test: the bench runner talks to it over Node IPC to
 * read its CPU time and memory, and to stop it (so `--cpu-prof` profiles get written).
 */

import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import net from 'node:net';

/** A request from the runner. */
export type ControlRequest =
  | { id: number; cmd: 'stats'; gc?: boolean }
  | { id: number; cmd: 'stop' }
  /** Starts the V8 CPU profiler, or stops it and writes the profile to `file` (`--profile-window`). */
  | { id: number; cmd: 'profile'; action: 'start' | 'stop'; file?: string; intervalUs?: number };

/** What a server reports: its own CPU time (microseconds) and memory (bytes). */
export interface ServerStats {
  cpuUser: number;
  cpuSystem: number;
  rss: number;
  heapUsed: number;
  external: number;
  /** Bytes received from the broker (Redis) by this process, when tracked. */
  brokerBytesIn: number;
  /** Open file descriptors, and the soft and hard RLIMIT_NOFILE (Linux; -1 elsewhere). */
  openFds: number;
  fdLimit: number;
  fdLimitHard: number;
}

/** `Max open files` of /proc/self/limits: [soft, hard]. */
function fdLimits(): [number, number] {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const [soft, hard] = (line ?? '').split(/\s{2,}/).slice(1, 3).map((v) => (v === 'unlimited' ? Infinity : Number(v)));
    return [soft ?? -1, hard ?? -1];
  } catch {
    return [-1, -1];
  }
}

function openFds(): number {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return -1;
  }
}

const brokerSockets: net.Socket[] = [];

/**
 * Counts the bytes this process receives on client TCP connections made after the call (ioredis
 * connects through `net.createConnection`): in a bench server these are its Redis connections.
 */
export function trackBrokerSockets(): void {
  const original = net.createConnection;
  net.createConnection = function trackedConnection(this: unknown, ...args: unknown[]) {
    const socket = (original as (...a: unknown[]) => net.Socket).apply(this, args);
    brokerSockets.push(socket);
    return socket;
  } as typeof net.createConnection;
}

/** Reads CPU and memory; with `gc`, after a full collection (needs `--expose-gc`). */
export function serverStats(gc = false): ServerStats {
  if (gc && typeof globalThis.gc === 'function') {
    globalThis.gc();
    globalThis.gc();
  }
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  const brokerBytesIn = brokerSockets.reduce((n, s) => n + s.bytesRead, 0);
  const [fdLimit, fdLimitHard] = fdLimits();
  return { cpuUser: cpu.user, cpuSystem: cpu.system, rss: mem.rss, heapUsed: mem.heapUsed, external: mem.external, brokerBytesIn, openFds: openFds(), fdLimit, fdLimitHard };
}

let profiler: Session | undefined;

function post(session: Session, method: string, params?: object): Promise<any> {
  return new Promise((resolve, reject) => session.post(method, params ?? {}, (err, result) => (err ? reject(err) : resolve(result))));
}

/**
 * Profiles only a window of the run (the connects, or the load window), unlike `--cpu-prof`,
 * which also records start-up, module loading and shutdown.
 */
async function profile(action: 'start' | 'stop', file?: string, intervalUs = 250): Promise<void> {
  if (action === 'start') {
    profiler = new Session();
    profiler.connect();
    await post(profiler, 'Profiler.enable');
    await post(profiler, 'Profiler.setSamplingInterval', { interval: intervalUs });
    await post(profiler, 'Profiler.start');
    return;
  }
  if (!profiler) return;
  const { profile: result } = await post(profiler, 'Profiler.stop');
  profiler.disconnect();
  profiler = undefined;
  if (file) writeFileSync(file, JSON.stringify(result));
}

/**
 * Announces the port to the runner and answers its requests until told to stop.
 * The server exits when the runner goes away, so no run leaves a process behind.
 */
export function serveControl(port: number, close: () => Promise<void>): void {
  if (!process.send) throw new Error('a bench server runs as a child of bench/run.ts (it needs an IPC channel)');
  process.on('message', (msg: ControlRequest) => {
    if (msg.cmd === 'stats') {
      process.send!({ id: msg.id, stats: serverStats(msg.gc) });
    } else if (msg.cmd === 'profile') {
      void profile(msg.action, msg.file, msg.intervalUs).then(
        () => process.send!({ id: msg.id, profiled: true }),
        (err: Error) => process.send!({ id: msg.id, profiled: false, error: err.message }),
      );
    } else if (msg.cmd === 'stop') {
      void close().finally(() => {
        process.send!({ id: msg.id, stopped: true }, () => process.exit(0));
      });
    }
  });
  process.on('disconnect', () => process.exit(0));
  process.send({ ready: true, port });
}
