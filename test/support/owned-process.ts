/**
 * Child processes and temp directories a test owns, cleaned up however the test process ends:
 * - the test stops them itself (`kill()`, or the `stop()` of the harness built on this);
 * - the test process exits (normally, by `process.exit`, or on an uncaught exception): an `exit`
 *   hook SIGKILLs every owned child still running and removes every owned directory;
 * - the test process is killed by a signal (vitest stops a fork with SIGTERM, then SIGKILL), which
 *   runs no hook: each child is started through `setpriv --pdeathsig KILL` (util-linux), so the
 *   kernel kills it when its parent dies. `setpriv` execs the command, so the pid is the command's.
 * Without `setpriv` the last case leaves the child running; `pdeathsigAvailable` says which.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', function killOwnedChildren() {
    for (const child of children) child.kill('SIGKILL');
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
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
