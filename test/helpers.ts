/**
 * Test helpers: a real app on an ephemeral port and a `ws` client whose frames are awaited as
 * events (no sleeps).
 */
import WebSocket from 'ws';
import { buildApp, type AppDeps, type BuiltApp } from '../src/app.ts';
import { loadConfig, type Config } from '../src/config.ts';
import { createLogger } from '../src/log.ts';
import { listen, type RunningServer } from '../src/server.ts';
import type { Limits } from '../src/ws/safety/limits.ts';

export interface TestApp extends BuiltApp, RunningServer {
  url: string;
  wsUrl(path: string): string;
}

export const TEST_SECRET = 'test-secret-that-is-long-enough-0123456789';

/** Settings of a test app: any of the config, with only the limits that differ from the defaults. */
export type TestConfig = Partial<Omit<Config, 'limits'>> & { limits?: Partial<Limits> };

/**
 * Builds and starts the app on 127.0.0.1, on an ephemeral port unless `overrides.port` names one
 * (a restart test brings a new server up on the port of the one it stopped).
 */
export async function startApp(overrides: TestConfig = {}, deps: AppDeps = {}): Promise<TestApp> {
  const base = loadConfig({});
  const limits = { ...base.limits, ...overrides.limits };
  const config: Config = { ...base, sessionSecret: TEST_SECRET, logLevel: 'silent', port: 0, ...overrides, limits };
  const built = buildApp(config, { logger: createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'), ...deps });
  // Redis-backed services connect in the background; a test starts once they are up.
  await Promise.all([built.rt.broker, built.rt.presence, built.mapStore].map((s) => ('ready' in s && typeof s.ready === 'function' ? s.ready() : undefined)));
  const running = await listen(built, { port: config.port, hostname: '127.0.0.1' });
  const url = `http://127.0.0.1:${running.port}`;
  return { ...built, ...running, url, wsUrl: (path) => `ws://127.0.0.1:${running.port}${path}` };
}

export interface Frame {
  type: string;
  data: any;
  id?: string;
  seq?: number;
  epoch?: string;
  replayed?: boolean;
  /** On a multiplexed socket: the subscription it belongs to. */
  path?: string;
}

/** A `ws` client that queues every frame so tests can await them in order. */
export class TestClient {
  readonly frames: Frame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly #waiters: Array<() => void> = [];
  #cursor = 0;
  /** Frames taken by `take` (by index), apart from the read position of `next`. */
  readonly #taken = new Set<number>();

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (raw, isBinary) => {
      const text = raw.toString();
      this.frames.push(isBinary ? { type: '(binary)', data: text } : (JSON.parse(text) as Frame));
      for (const wake of this.#waiters.splice(0)) wake();
    });
    this.closed = new Promise((resolve) => {
      socket.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString() });
        for (const wake of this.#waiters.splice(0)) wake();
      });
    });
  }

  /** Opens a socket; resolves on open (before `welcome` is read). Rejects on an HTTP refusal. */
  static open(url: string, headers: Record<string, string> = {}): Promise<TestClient> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, { headers });
      const client = new TestClient(socket);
      socket.once('open', () => resolve(client));
      socket.once('unexpected-response', (_req, res) => {
        reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode }));
        socket.terminate();
      });
      socket.once('error', reject);
    });
  }

  /** Opens a socket and reads its `welcome`. */
  static async connect(url: string, headers: Record<string, string> = {}): Promise<TestClient & { welcome: Frame }> {
    const client = await TestClient.open(url, headers);
    const welcome = await client.next('welcome');
    return Object.assign(client, { welcome });
  }

  /** The next frame not read yet (of `type`, skipping others when given). */
  async next(type?: string, timeoutMs = 5000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.#cursor < this.frames.length) {
        const frame = this.frames[this.#cursor++]!;
        if (!type || frame.type === type) return frame;
      }
      if (this.socket.readyState === WebSocket.CLOSED) throw new Error(`socket closed while waiting for ${type ?? 'a frame'}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${type ?? 'a frame'}; got ${JSON.stringify(this.frames.slice(-5))}`);
      await this.#wait(left);
    }
  }

  /**
   * Resolves once some frame received so far (read or not) satisfies `test`, without moving the
   * read position: for frames whose order against an `ack` is not given (the ack and a broadcast's
   * own copy travel on different Redis connections).
   */
  async seen(test: (frame: Frame) => boolean, timeoutMs = 5000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.frames.find(test);
      if (found) return found;
      if (this.socket.readyState === WebSocket.CLOSED) throw new Error('socket closed while waiting for a frame');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for a frame; got ${JSON.stringify(this.frames.slice(-5))}`);
      await this.#wait(left);
    }
  }

  /**
   * The first frame not taken yet that satisfies `test`, in arrival order, taken: frames of a
   * multiplexed socket's other subscriptions are left for their own takers. Independent of `next`.
   */
  async take(test: (frame: Frame) => boolean, timeoutMs = 5000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.frames.findIndex((f, i) => !this.#taken.has(i) && test(f));
      if (index >= 0) {
        this.#taken.add(index);
        return this.frames[index]!;
      }
      if (this.socket.readyState === WebSocket.CLOSED) throw new Error('socket closed while waiting for a frame');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for a frame; got ${JSON.stringify(this.frames.slice(-5))}`);
      await this.#wait(left);
    }
  }

  /** Resolves at the next frame or close, or after `ms`. */
  #wait(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Frames of `type` not read yet, without waiting. */
  unread(type?: string): Frame[] {
    return this.frames.slice(this.#cursor).filter((f) => !type || f.type === type);
  }

  send(frame: unknown): void {
    this.socket.send(typeof frame === 'string' || Buffer.isBuffer(frame) ? frame : JSON.stringify(frame));
  }

  /** Sends a message with an id and resolves with the reply (`ack` or `error`) carrying that id. */
  async request(type: string, data?: unknown): Promise<Frame> {
    const id = `r${Math.random().toString(36).slice(2)}`;
    this.send({ type, data, id });
    for (;;) {
      const frame = await this.next();
      if (frame.id === id) return frame;
    }
  }

  close(): Promise<{ code: number; reason: string }> {
    this.socket.close();
    return this.closed;
  }
}

/** Logs in by name; returns the cookie header value for sockets and requests. */
export async function login(app: TestApp, username: string, extra: Record<string, string> = {}): Promise<string> {
  const res = await fetch(`${app.url}/api/1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, ...extra }),
  });
  if (res.status !== 200) throw new Error(`login failed: ${res.status} ${await res.text()}`);
  const cookie = res.headers.get('set-cookie')!;
  return cookie.split(';')[0]!;
}

/** Resolves once `app`'s bus channels emitted `event` (`subscribed`, `unsubscribed`) for every one of `paths`. */
export function channelsDid(app: TestApp, event: 'subscribed' | 'unsubscribed', paths: string[]): Promise<void> {
  const left = new Set(paths);
  return new Promise((resolve) => {
    app.rt.channels.on(event, (p) => {
      left.delete(p);
      if (left.size === 0) resolve();
    });
  });
}
