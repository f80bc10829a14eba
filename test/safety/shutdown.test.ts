import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { CloseCode } from '../../src/protocol/codes.ts';
import { TestClient } from '../helpers.ts';
import { refusedStatus } from './helpers.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

let child: ChildProcess | undefined;
afterEach(() => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  child = undefined;
});

/** Starts `src/app.ts` as its own process on an ephemeral port; resolves with the port. */
async function startProcess(env: Record<string, string>): Promise<{ proc: ChildProcess; port: number; logs: string[] }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/app.ts'], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const logs: string[] = [];
  const lines = createInterface({ input: proc.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`app exited with ${code} before listening`)));
    lines.on('line', (line) => {
      logs.push(line);
      const entry = JSON.parse(line) as { port?: number; msg?: string };
      if (typeof entry.port === 'number') resolve(entry.port);
    });
  });
  return { proc, port, logs };
}

describe('graceful shutdown', () => {
  it('on SIGTERM refuses new upgrades, closes clients with 1012 and exits cleanly', async () => {
    // A client that does not answer the close handshake holds the drain open until the close
    // timeout: long enough to watch the draining state without any sleep.
    const started = await startProcess({ WS_CLOSE_TIMEOUT_MS: '30000', SHUTDOWN_TIMEOUT_MS: '30000', SHUTDOWN_SPREAD_MS: '200' });
    child = started.proc;
    const url = `ws://127.0.0.1:${started.port}/api/1/ws/hello-rooms/Berlin`;
    const clients = await Promise.all([1, 2, 3].map(() => TestClient.connect(url)));
    const stuck = await TestClient.connect(url);
    stuck.socket.pause();
    const exited = once(child, 'exit');

    child.kill('SIGTERM');
    for (const c of clients) expect((await c.closed).code).toBe(CloseCode.SERVICE_RESTART);
    expect(await refusedStatus(url)).toBe(503);
    expect((await fetch(`http://127.0.0.1:${started.port}/ready`)).status).toBe(503);
    expect((await fetch(`http://127.0.0.1:${started.port}/health`)).status).toBe(200);

    stuck.socket.resume();
    expect((await stuck.closed).code).toBe(CloseCode.SERVICE_RESTART);
    const [code, signal] = await exited;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(started.logs.some((l) => l.includes('shut down cleanly'))).toBe(true);
  });

  it('exits within the shutdown timeout when a client never completes the close', async () => {
    const started = await startProcess({ WS_CLOSE_TIMEOUT_MS: '30000', SHUTDOWN_TIMEOUT_MS: '300', SHUTDOWN_SPREAD_MS: '0' });
    child = started.proc;
    const stuck = await TestClient.connect(`ws://127.0.0.1:${started.port}/api/1/ws/hello-rooms/Berlin`);
    stuck.socket.pause();
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const [code] = await exited;
    expect(code).toBe(0);
    stuck.socket.resume();
    await stuck.closed;
  });

  it('stops start-up naming a bad variable', async () => {
    const proc = spawn(process.execPath, ['--import', 'tsx', 'src/app.ts'], {
      cwd: ROOT,
      env: { ...process.env, PORT: '0', WS_MESSAGE_RATE: 'fast' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child = proc;
    let stderr = '';
    proc.stderr!.on('data', (chunk) => (stderr += chunk));
    const [code] = await once(proc, 'exit');
    expect(code).toBe(1);
    expect(stderr).toBe('invalid configuration: WS_MESSAGE_RATE="fast": expected a whole number from 0 to 1000000\n');
  });
});
