/**
 * A private `redis-server` for tests that must kill or restart Redis (the shared 127.0.0.1:6379 is
 * never touched): its own free port, its own temp `--dir`, no persistence (`--save ""`,
 * `--appendonly no`), so every start is an empty server. Stopped by pid, also when the test fails
 * or the test process dies (`owned-process.ts`).
 *
 * @example
 * const redis = await startRedisServer();
 * afterAll(() => redis.stop());
 * await redis.restart(); // SHUTDOWN NOSAVE, then a fresh empty server on the same port
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Redis, ReplyError } from 'ioredis';
import { freePort, ownedTempDir, pollUntil, spawnOwned, type Exit, type OwnedProcess } from './owned-process.ts';

function versionOf(binary: string): string | undefined {
  const out = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  return out.status === 0 ? /v=(\d+\.\d+\.\d+)/.exec(out.stdout)?.[1] ?? /(\d+\.\d+\.\d+)/.exec(out.stdout)?.[1] : undefined;
}

/** The installed `redis-server`'s version (`7.0.15`), or undefined when there is none on PATH. */
export const redisServerVersion = versionOf('redis-server');
/** The installed `redis-cli`'s version, or undefined. */
export const redisCliVersion = versionOf('redis-cli');

/**
 * Sends one command to the Redis on `port` over a connection of its own, and closes it. For
 * harness checks and admin commands (PING, INFO, CLUSTER ...), not for load.
 */
export async function redisCommand(port: number, command: string, ...args: Array<string | number>): Promise<unknown> {
  const conn = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    enableReadyCheck: false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    // Loopback connects or refuses at once; a hung server (SIGSTOP) is what the command timeout bounds.
    connectTimeout: 0,
    commandTimeout: 5000,
    disconnectTimeout: 50,
  });
  conn.on('error', () => {});
  try {
    await conn.connect();
    return await conn.call(command, ...args);
  } finally {
    conn.disconnect();
  }
}

/** Options of a redis-server process. */
export interface RedisProcessOptions {
  /** Extra `redis-server` arguments, e.g. `['--maxmemory', '10mb']`; they win over the defaults. */
  args?: string[];
  /** Bound on a start, until PING answers; default 10 s. */
  startTimeoutMs?: number;
}

/**
 * One `redis-server` on a fixed port and directory, started and stopped as often as a test needs.
 * The building block of `startRedisServer` and of the cluster's nodes.
 */
export class RedisProcess {
  #proc: OwnedProcess | undefined;
  readonly #args: string[];
  readonly #startTimeoutMs: number;

  constructor(
    readonly port: number,
    readonly dir: string,
    options: RedisProcessOptions = {},
  ) {
    this.#args = options.args ?? [];
    this.#startTimeoutMs = options.startTimeoutMs ?? 10_000;
  }

  /** The pid of the current process, or of the last one once it has exited. */
  get pid(): number {
    if (!this.#proc) throw new Error(`redis-server on port ${this.port} was never started`);
    return this.#proc.pid;
  }

  get running(): boolean {
    return this.#proc?.running ?? false;
  }

  /** Resolves when the current process has exited. */
  get exited(): Promise<Exit> {
    return this.#proc?.exited ?? Promise.resolve({ code: null, signal: null });
  }

  /** The server's log (its `--logfile`), for error messages. */
  log(): string {
    const file = join(this.dir, 'redis.log');
    return existsSync(file) ? readFileSync(file, 'utf8') : '';
  }

  /** Starts the server and resolves once it answers PING; rejects (with its log) if it exits first. */
  async start(): Promise<void> {
    if (this.running) throw new Error(`redis-server on port ${this.port} is already running (pid ${this.pid})`);
    // No persistence is configured, but a test may have run SAVE: a start is always empty.
    rmSync(join(this.dir, 'dump.rdb'), { force: true });
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir];
    args.push('--logfile', join(this.dir, 'redis.log'), '--daemonize', 'no', '--enable-debug-command', 'local', ...this.#args);
    const proc = spawnOwned('redis-server', args, { stdio: 'ignore', cwd: this.dir });
    this.#proc = proc;
    let exit: Exit | undefined;
    void proc.exited.then((e) => (exit = e));
    try {
      await pollUntil(`redis-server on port ${this.port} answering PING`, this.#startTimeoutMs, async () => {
        if (exit) throw new RedisStartError(this.port, `exited with ${exit.code ?? exit.signal} before answering PING`, this.log());
        // Not listening yet: a start takes a few ms, and another process tells nothing but this.
        return (await redisCommand(this.port, 'PING').catch((err: Error) => err.message)) === 'PONG' || 'no PONG yet';
      }, 10);
    } catch (err) {
      await proc.kill();
      throw err instanceof RedisStartError ? err : new RedisStartError(this.port, (err as Error).message, this.log());
    }
  }

  /** Sends `signal` (default SIGKILL) and resolves once the process has exited. */
  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<Exit> {
    return this.#proc?.kill(signal) ?? Promise.resolve({ code: null, signal: null });
  }

  /** `SHUTDOWN NOSAVE` from a client, as an operator would; resolves once the process has exited. */
  async shutdown(): Promise<void> {
    if (!this.running) return;
    try {
      await redisCommand(this.port, 'SHUTDOWN', 'NOSAVE');
    } catch (err) {
      // The server closes the connection instead of answering; a refusal is a reply.
      if (err instanceof ReplyError) throw err;
    }
    await this.exited;
  }
}

/** A redis-server that did not come up; the message carries the end of its log. */
export class RedisStartError extends Error {
  constructor(
    readonly port: number,
    reason: string,
    readonly log: string,
  ) {
    super(`redis-server on port ${port} ${reason}:\n${log.split('\n').slice(-15).join('\n')}`);
  }

  /** Whether it failed because the port was taken (a free port can be taken before Redis binds it). */
  get portTaken(): boolean {
    return /Address already in use/.test(this.log);
  }
}

/** Options of `startRedisServer`. */
export interface RedisServerOptions extends RedisProcessOptions {
  /** Port; default a free one (retried when another process takes it first). */
  port?: number;
}

/** A private redis-server (see the module comment). */
export interface RedisServer {
  readonly port: number;
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  /** The current process's pid (a restart changes it). */
  readonly pid: number;
  /** Its `--dir` (holds `redis.log`); removed by `stop()`. */
  readonly dir: string;
  /** The server's log so far (all its starts). */
  log(): string;
  readonly running: boolean;
  /** Resolves when the current process exits. */
  readonly exited: Promise<Exit>;
  /** Sends `signal` (default SIGKILL) and resolves once it has exited; `start()` brings it back. */
  kill(signal?: NodeJS.Signals): Promise<Exit>;
  /** `SHUTDOWN NOSAVE` from a client; resolves once it has exited; `start()` brings it back. */
  shutdown(): Promise<void>;
  /** Starts a fresh, empty server on the same port (after `kill` or `shutdown`). */
  start(): Promise<void>;
  /** `shutdown()` (when running) and `start()`: what an operator's `shutdown nosave` and restart do. */
  restart(): Promise<void>;
  /** Kills the server and removes its directory; idempotent. */
  stop(): Promise<void>;
}

/** Starts a private redis-server and resolves once it answers PING. */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const dir = ownedTempDir('hns-redis-');
  for (let attempt = 1; ; attempt++) {
    const redis = new RedisProcess(options.port ?? (await freePort()), dir.path, options);
    try {
      await redis.start();
    } catch (err) {
      if (err instanceof RedisStartError && err.portTaken && options.port === undefined && attempt < 5) continue;
      dir.remove();
      throw err;
    }
    let stopped = false;
    const ensureNotStopped = () => {
      if (stopped) throw new Error(`redis-server on port ${redis.port} was stopped`);
    };
    return {
      port: redis.port,
      url: `redis://127.0.0.1:${redis.port}`,
      get pid() {
        return redis.pid;
      },
      dir: dir.path,
      log: () => redis.log(),
      get running() {
        return redis.running;
      },
      get exited() {
        return redis.exited;
      },
      kill: (signal) => redis.kill(signal),
      shutdown: () => redis.shutdown(),
      async start() {
        ensureNotStopped();
        await redis.start();
      },
      async restart() {
        ensureNotStopped();
        await redis.shutdown();
        await redis.start();
      },
      async stop() {
        stopped = true;
        await redis.kill('SIGKILL');
        dir.remove();
      },
    };
  }
}
