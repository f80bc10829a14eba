/**
 * A program run as its own process group (as a terminal runs `npm start`), whose output lines
 * are awaited as events and which is stopped by signalling the whole group.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/** Every process started here and not yet exited, so that a failed test leaves none behind. */
const running = new Set<Program>();

export interface ProgramOptions {
  cwd: string;
  /** The whole environment of the program. */
  env: NodeJS.ProcessEnv;
}

export class Program {
  /** stdout and stderr lines, in arrival order. */
  readonly lines: string[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly #child: ChildProcess;
  readonly #waiters = new Set<() => void>();

  private constructor(command: string, args: string[], options: ProgramOptions) {
    this.#child = spawn(command, args, { cwd: options.cwd, env: options.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    for (const [stream, into] of [[this.#child.stdout!, this.lines], [this.#child.stderr!, this.stderr]] as const) {
      createInterface({ input: stream }).on('line', (line) => {
        into.push(line);
        if (into !== this.lines) this.lines.push(line);
        for (const wake of this.#waiters) wake();
      });
    }
    this.exited = new Promise((resolve) => {
      this.#child.once('exit', (code, signal) => {
        running.delete(this);
        resolve({ code, signal });
        for (const wake of this.#waiters) wake();
      });
    });
    running.add(this);
  }

  /** Runs `script` with bash, as typed in a terminal. */
  static bash(script: string, options: ProgramOptions): Program {
    return new Program('bash', ['-c', script], options);
  }

  static node(args: string[], options: ProgramOptions): Program {
    return new Program(process.execPath, args, options);
  }

  /** Resolves with the first line (old or new) that `match` accepts; rejects if the program exits first. */
  async line(match: (line: string) => boolean, timeoutMs = 30_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let seen = 0;
    for (;;) {
      for (; seen < this.lines.length; seen++) if (match(this.lines[seen]!)) return this.lines[seen]!;
      if (this.#child.exitCode !== null || this.#child.signalCode !== null) throw new Error(`exited before the line awaited; output:\n${this.lines.join('\n')}`);
      if (Date.now() > deadline) throw new Error(`no such line within ${timeoutMs} ms; output:\n${this.lines.join('\n')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, deadline - Date.now() + 1);
        const waiters = this.#waiters;
        function done() {
          clearTimeout(timer);
          waiters.delete(done);
          resolve();
        }
        waiters.add(done);
      });
    }
  }

  /** The first JSON log line whose `msg` starts with `prefix`. */
  async logLine(prefix: string, timeoutMs?: number): Promise<Record<string, any>> {
    const line = await this.line((l) => parseJson(l)?.msg?.startsWith(prefix) === true, timeoutMs);
    return parseJson(line)!;
  }

  /** Sends `signal` to the program's whole process group, as Ctrl-C or an orchestrator would. */
  signal(signal: NodeJS.Signals): void {
    try {
      process.kill(-this.#child.pid!, signal);
    } catch {
      // already gone
    }
  }

  /** Sends `signal` to the group and resolves once the program exited. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.signal(signal);
    return this.exited;
  }
}

/** Kills every program still running (for `afterEach`/`afterAll`). */
export async function killAll(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop('SIGKILL')));
}

function parseJson(line: string): Record<string, any> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as Record<string, any>;
  } catch {
    return undefined;
  }
}
