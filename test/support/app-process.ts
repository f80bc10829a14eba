/**
 * One app instance (`src/app.ts`) as a child process of its own, for tests that SIGKILL an
 * instance or need several real processes. Started as `node --import tsx src/app.ts` with no npm
 * in between, so a signal reaches the server itself. Same clean-up guarantees as
 * `owned-process.ts`.
 *
 * The child gets a small environment (PATH, HOME, TMPDIR and what the caller passes), not the test
 * process's: a `REDIS_URL` or `PORT` set for the test run must not leak into an instance that was
 * meant to run without it.
 *
 * @example
 * const app = await startAppProcess({ REDIS_URL: redis.url, REDIS_PREFIX: uniquePrefix() });
 * await app.ready();
 * await app.kill('SIGKILL');
 */
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { TEST_SECRET } from '../helpers.ts';
import { pollUntil, spawnOwned, type Exit } from './owned-process.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** A JSON log line of the instance (pino: `level`, `time`, `msg` and the line's fields). */
export type LogLine = Record<string, unknown> & { level?: number; msg?: string };

/** Options of `startAppProcess`. */
export interface AppProcessOptions {
  /** Bound on the start, until the instance logs its port; default 30 s (tsx compiles on start). */
  startTimeoutMs?: number;
}

/** A running app instance (see the module comment). */
export interface AppProcess {
  readonly port: number;
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  readonly pid: number;
  /** Every JSON line the instance logged so far, parsed. */
  readonly logs: readonly LogLine[];
  /** Resolves when the process has exited, however it ended. */
  readonly exited: Promise<Exit>;
  /** `ws://127.0.0.1:<port><path>`. */
  wsUrl(path: string): string;
  /** Sends `signal` (default SIGKILL) and resolves once the process has exited. */
  kill(signal?: NodeJS.Signals): Promise<Exit>;
  /** Resolves with the first log line (already logged or to come) that `match` accepts. */
  waitForLog(match: (line: LogLine) => boolean, options?: { timeoutMs?: number }): Promise<LogLine>;
  /** Resolves once `GET /ready` answers 200 (the instance's Redis connections are up); default bound 10 s. */
  ready(options?: { timeoutMs?: number }): Promise<void>;
}

/** Lines of stderr kept for the error of an instance that exits before listening. */
const STDERR_TAIL = 40;

/**
 * Starts `src/app.ts` with `env` (defaults: PORT=0, HOST=127.0.0.1, LOG_FORMAT=json,
 * LOG_LEVEL=info, SESSION_SECRET=TEST_SECRET (test/helpers.ts)) and resolves once it listens, with the port
 * read from the `port` field of its JSON log (not from the message's wording). LOG_LEVEL must
 * let info lines through: that line is info.
 */
export async function startAppProcess(env: Record<string, string> = {}, options: AppProcessOptions = {}): Promise<AppProcess> {
  const base = Object.fromEntries(['PATH', 'HOME', 'TMPDIR', 'NODE_V8_COVERAGE'].flatMap((k) => (process.env[k] ? [[k, process.env[k]!]] : [])));
  const childEnv = { ...base, PORT: '0', HOST: '127.0.0.1', LOG_FORMAT: 'json', LOG_LEVEL: 'info', SESSION_SECRET: TEST_SECRET, ...env };
  const proc = spawnOwned(process.execPath, ['--import', 'tsx', 'src/app.ts'], { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: LogLine[] = [];
  const watchers = new Set<(line: LogLine) => void>();
  const stderr: string[] = [];
  createInterface({ input: proc.child.stdout! }).on('line', (text) => {
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      line = { msg: text, unparsed: true };
    }
    logs.push(line);
    for (const watch of watchers) watch(line);
  });
  createInterface({ input: proc.child.stderr! }).on('line', (text) => {
    stderr.push(text);
    if (stderr.length > STDERR_TAIL) stderr.shift();
  });

  const waitForLog: AppProcess['waitForLog'] = (match, { timeoutMs = 10_000 } = {}) => {
    const seen = logs.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const done = (fn: () => void) => {
        clearTimeout(timer);
        watchers.delete(watch);
        fn();
      };
      const watch = (line: LogLine) => {
        if (match(line)) done(() => resolve(line));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`instance ${proc.pid}: no matching log line within ${timeoutMs} ms`))), timeoutMs);
      watchers.add(watch);
      void proc.exited.then((exit) => done(() => reject(new Error(`instance ${proc.pid} exited with ${exit.code ?? exit.signal}\n${stderr.join('\n')}`))));
    });
  };

  let port: number;
  try {
    const listening = await waitForLog((line) => typeof line.port === 'number', { timeoutMs: options.startTimeoutMs ?? 30_000 });
    port = listening.port as number;
  } catch (err) {
    await proc.kill();
    throw err;
  }
  const url = `http://127.0.0.1:${port}`;
  return {
    port,
    url,
    pid: proc.pid,
    logs,
    exited: proc.exited,
    wsUrl: (path) => `ws://127.0.0.1:${port}${path}`,
    kill: (signal) => proc.kill(signal),
    waitForLog,
    async ready({ timeoutMs = 10_000 } = {}) {
      // /ready is the instance's only account of its connections; there is no event to await.
      await pollUntil(`instance ${proc.pid} ready`, timeoutMs, async () => {
        if (!proc.running) throw new Error(`instance ${proc.pid} exited before it was ready\n${stderr.join('\n')}`);
        try {
          const res = await fetch(`${url}/ready`);
          return res.status === 200 || `${res.status} ${await res.text()}`;
        } catch (err) {
          return (err as Error).message;
        }
      });
    },
  };
}
