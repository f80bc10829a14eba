/**
 * Helpers of the security suite: the app in a real child process, raw HTTP on a TCP socket
 * (what an attacker sends is not what a well-behaved client library sends), and counts.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The app in its own process (`heap-app.ts`, with `--expose-gc`), on an ephemeral port. */
export class AppProcess {
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly #waiting = new Map<number, (msg: any) => void>();
  #id = 0;

  private constructor(
    readonly proc: ChildProcess,
    readonly port: number,
  ) {
    this.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
    proc.on('message', (msg: any) => {
      this.#waiting.get(msg.id)?.(msg);
      this.#waiting.delete(msg.id);
    });
  }

  static async start(env: Record<string, string> = {}): Promise<AppProcess> {
    const proc = fork(fileURLToPath(new URL('./heap-app.ts', import.meta.url)), [], {
      cwd: ROOT,
      execArgv: ['--import', 'tsx', '--expose-gc'],
      env: { ...process.env, LOG_LEVEL: 'silent', SESSION_SECRET: 'security-test-secret-that-is-long-enough', ...env },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const port = await new Promise<number>((resolve, reject) => {
      proc.once('exit', (code) => reject(new Error(`app process exited with ${code} before listening`)));
      proc.once('message', (msg: { port: number }) => resolve(msg.port));
    });
    return new AppProcess(proc, port);
  }

  /** Heap used after two full GCs, in bytes. */
  heap(): Promise<number> {
    return this.#request('heap').then((msg) => msg.heap as number);
  }

  stats(): Promise<{ clients: number; namespaces: number }> {
    return this.#request('stats').then((msg) => msg.stats);
  }

  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  async stop(): Promise<void> {
    if (this.alive) {
      this.proc.kill('SIGKILL');
      await this.exited;
    }
  }

  #request(cmd: string): Promise<any> {
    const id = ++this.#id;
    return new Promise((resolve) => {
      this.#waiting.set(id, resolve);
      this.proc.send({ id, cmd });
    });
  }
}

/** A command run as the README says, in its own process group, with its JSON log lines. */
export class RunCommand {
  readonly logs: Array<Record<string, unknown>> = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly port: Promise<number>;

  constructor(
    command: string,
    args: string[],
    env: Record<string, string>,
    readonly proc: ChildProcess = spawn(command, args, {
      cwd: ROOT,
      detached: true,
      env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', LOG_FORMAT: 'json', ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  ) {
    this.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
    const lines = createInterface({ input: proc.stdout! });
    this.port = new Promise<number>((resolve, reject) => {
      void this.exited.then(({ code }) => reject(new Error(`${command} exited with ${code} before listening`)));
      lines.on('line', (line) => {
        if (!line.startsWith('{')) return;
        const entry = JSON.parse(line) as Record<string, unknown>;
        this.logs.push(entry);
        if (typeof entry.msg === 'string' && entry.msg.startsWith('listening') && typeof entry.port === 'number') resolve(entry.port);
      });
    });
  }

  /** Kills the whole process group, whatever is left of it. */
  killGroup(): void {
    try {
      process.kill(-this.proc.pid!, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

/** A raw HTTP exchange on its own TCP socket. */
export interface RawReply {
  /** The status code, or undefined when the server closed without answering. */
  status: number | undefined;
  headers: Record<string, string>;
  body: string;
  /** Whether the server ended its side of the connection. */
  closedByServer: boolean;
}

/**
 * Sends `request` (raw bytes) on a fresh TCP socket that never ends its own side, and resolves
 * once the server has answered and closed (so a half-open socket left by the server times out).
 */
export async function rawRequest(port: number, request: string | Buffer, options: { localAddress?: string } = {}): Promise<RawReply> {
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true, ...(options.localAddress ? { localAddress: options.localAddress } : {}) });
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => {});
  await once(socket, 'connect');
  socket.write(request);
  await once(socket, 'end');
  socket.destroy();
  return parseReply(Buffer.concat(chunks).toString('latin1'), true);
}

/** Parses the first HTTP response in `text`. */
export function parseReply(text: string, closedByServer: boolean): RawReply {
  const split = text.indexOf('\r\n\r\n');
  const head = split === -1 ? text : text.slice(0, split);
  const [statusLine = '', ...lines] = head.split('\r\n');
  const status = /^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1];
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: status ? Number(status) : undefined, headers, body: split === -1 ? '' : text.slice(split + 4), closedByServer };
}

/** The request line and headers of an upgrade to `path`, with `headers` changed (a value of undefined drops one). */
export function upgradeRequest(path: string, headers: Record<string, string | undefined> = {}): string {
  const all: Record<string, string | undefined> = {
    Host: 'localhost',
    Connection: 'Upgrade',
    Upgrade: 'websocket',
    'Sec-WebSocket-Version': '13',
    'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
    ...headers,
  };
  const lines = Object.entries(all).flatMap(([k, v]) => (v === undefined ? [] : [`${k}: ${v}`]));
  return `GET ${path} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`;
}

/** Second address on loopback: a bystander that is not the attacker (Linux routes all of 127/8 to lo). */
export const OTHER_ADDRESS = '127.0.0.2';
