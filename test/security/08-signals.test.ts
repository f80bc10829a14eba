/**
 * Item 8: the README's run command, `npm start`, shuts down gracefully on SIGTERM or SIGINT sent
 * to its top process (what Docker and Kubernetes do to PID 1) or to its whole process group
 * (Ctrl-C in a terminal, `kill -- -PGID`, systemd): clients are closed with 1012 and the process
 * exits 0. The copy of a group signal that npm relays is no "second signal"; a deliberate second
 * signal still exits at once.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { CloseCode } from '../../src/ws/codes.ts';
import { DUPLICATE_SIGNAL_MS } from '../../src/shutdown.ts';
import { TestClient } from '../helpers.ts';
import { RunCommand } from './helpers.ts';

let run: RunCommand | undefined;
afterEach(() => {
  run?.killGroup();
  run = undefined;
});

async function npmStart(env: Record<string, string> = {}): Promise<{ run: RunCommand; clients: TestClient[] }> {
  // Without prestart (the client build, done by pretest): it would rewrite public/client.js under
  // the browser tests running beside this one; the processes that take the signal are the same.
  run = new RunCommand('npm', ['start', '--silent', '--ignore-scripts'], { SHUTDOWN_SPREAD_MS: '0', ...env });
  const port = await run.port;
  const clients = await Promise.all([1, 2].map(() => TestClient.connect(`ws://127.0.0.1:${port}/api/1/ws/hello-rooms/Berlin`)));
  return { run, clients };
}

const messages = (r: RunCommand) => r.logs.map((l) => l.msg);

describe('signals to the documented run command (item 8)', () => {
  it('SIGTERM to its top process (npm) closes clients with 1012 and exits', async () => {
    const { run, clients } = await npmStart();
    process.kill(run.proc.pid!, 'SIGTERM');
    for (const c of clients) expect((await c.closed).code).toBe(CloseCode.SERVICE_RESTART);
    expect((await run.exited).code).toBe(0);
    expect(messages(run)).toContain('shut down cleanly');
  }, 60_000);

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal} to its process group closes clients with 1012 and exits, the relayed copy ignored`, async () => {
      const { run, clients } = await npmStart();
      process.kill(-run.proc.pid!, signal);
      for (const c of clients) expect((await c.closed).code).toBe(CloseCode.SERVICE_RESTART);
      expect((await run.exited).code).toBe(0);
      expect(messages(run)).toContain('shut down cleanly');
      expect(messages(run)).not.toContain('second signal: exiting now');
    }, 60_000);
  }

  it('a deliberate second signal exits at once', async () => {
    // A client that never answers the close handshake holds the drain open.
    const { run, clients } = await npmStart({ WS_CLOSE_TIMEOUT_MS: '30000', SHUTDOWN_TIMEOUT_MS: '30000' });
    clients[0]!.socket.pause();
    process.kill(-run.proc.pid!, 'SIGTERM');
    expect((await clients[1]!.closed).code).toBe(CloseCode.SERVICE_RESTART);
    // The second signal must come after the window in which a copy is taken for a relay.
    await new Promise((resolve) => setTimeout(resolve, DUPLICATE_SIGNAL_MS + 200));
    process.kill(run.proc.pid!, 'SIGTERM');
    expect((await run.exited).code).not.toBe(0);
    expect(messages(run)).toContain('second signal: exiting now');
    clients[0]!.socket.resume();
  }, 60_000);
});
