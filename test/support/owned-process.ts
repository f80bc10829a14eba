/**
 * Child processes and temp directories a test owns, cleaned up however the test process ends:
 * - the test stops them itself (`kill()`, or the `stop()` of the harness built on this);
 * - the test process exits (normally, by `process.exit`, or on an uncaught exception): an `exit`
 *   hook SIGKILLs every owned child still running and removes every owned directory;
 * - the test process gets SIGTERM, SIGINT or SIGHUP (vitest stops a fork with SIGTERM): a handler
 *   does the same clean-up, then re-raises the signal when nothing else handles it;
 * - the test process is SIGKILLed (vitest does so 500 ms after a SIGTERM it ignored), which runs
 *   nothing: each child is started through `setpriv --pdeathsig KILL` (util-linux), so the kernel
 *   kills it when its parent dies. `setpriv` execs the command, so the pid is the command's.
 *   Without `setpriv` (`pdeathsigAvailable`) this case leaves the child running, and in any case
 *   its directory stays.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

/** How a child ended: an exit code, or the signal that killed it. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A child process started by `spawnOwned`. */
export interface OwnedProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Resolves when the process has exited (and been reaped). */
  readonly exited: Promise<Exit>;
  /** Whether it is still running. */
  readonly running: boolean;
  /** Sends `signal` (default SIGKILL) and resolves once it has exited; a no-op after the exit. */
  kill(signal?: NodeJS.Signals): Promise<Exit>;
}

/** Whether `setpriv --pdeathsig` is there to kill children whose test process was killed. */
export const pdeathsigAvailable = spawnSync('setpriv', ['--help'], { encoding: 'utf8' }).stdout?.includes('--pdeathsig') ?? false;

const children = new Set<ChildProcess>();
const dirs = new Set<string>();
let hooked = false;

function cleanUp(): void {
  for (const child of children) child.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  dirs.clear();
}

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', cleanUp);
  // A signal ends the process without the exit hook (vitest stops its forks with SIGTERM). Clean
  // up, then, if nobody else handles the signal, re-raise it for the default action.
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.once(signal, function cleanUpOnSignal() {
      cleanUp();
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  }
}

/**
 * Spawns `command` as an owned child (see the module comment). Throws when it cannot be started
 * (for example ENOENT) instead of emitting an unhandled `error`.
 */
export function spawnOwned(command: string, args: readonly string[], options: SpawnOptions = {}): OwnedProcess {
  hookExit();
  const [file, argv] = pdeathsigAvailable ? ['setpriv', ['--pdeathsig', 'KILL', '--', command, ...args]] : [command, [...args]];
  const child = spawn(file, argv, options);
  let spawnError: Error | undefined;
  child.on('error', (err) => (spawnError = err));
  if (child.pid === undefined) throw new Error(`could not start ${command}: ${spawnError?.message ?? 'no pid'}`);
  children.add(child);
  const exited = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    });
  });
  const pid = child.pid;
  return {
    child,
    pid,
    exited,
    get running() {
      return child.exitCode === null && child.signalCode === null;
    },
    kill(signal = 'SIGKILL') {
      if (this.running) child.kill(signal);
      return exited;
    },
  };
}

/** A fresh directory under the OS temp dir, removed by `remove()` or when the test process exits. */
export function ownedTempDir(prefix: string): { path: string; remove(): void } {
  hookExit();
  const path = mkdtempSync(join(tmpdir(), prefix));
  dirs.add(path);
  return {
    path,
    remove() {
      rmSync(path, { recursive: true, force: true });
      dirs.delete(path);
    },
  };
}

/**
 * Whether a process with this pid is running. A zombie (dead, not yet reaped: an orphan waits for
 * init to reap it) is not running: it holds no port, memory or file.
 */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    // The state follows the parenthesised name, which may itself contain spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return process.platform !== 'linux';
  }
}

/**
 * A TCP port on 127.0.0.1 that was free a moment ago. Another process may take it before the
 * caller binds it: callers retry on EADDRINUSE.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Calls `check` every `intervalMs` (default 25) until it returns something other than a string
 * (a string is why not yet), and resolves with that; rejects after `timeoutMs` with the last
 * reason, or at once with whatever `check` throws. For states of other processes (a server up, a
 * cluster agreed), which no event announces.
 */
export async function pollUntil<T>(what: string, timeoutMs: number, check: () => Promise<T | string>, intervalMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await check();
    if (typeof result !== 'string') return result;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms (${result})`);
    await delay(intervalMs);
  }
}
