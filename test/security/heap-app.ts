/**
 * The app in a child process of a security test, configured from its environment like
 * `src/app.ts`, answering the test over IPC with its heap after a full GC (run it with
 * `--expose-gc`) so that a leak shows in bytes, and exiting when the test goes away.
 */
import { buildApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { listen } from '../../src/server.ts';

const built = buildApp(loadConfig());
const running = await listen(built, { port: 0, hostname: '127.0.0.1' });

function heapAfterGc(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

process.on('message', (msg: { id: number; cmd: 'heap' | 'stats' }) => {
  if (msg.cmd === 'heap') process.send!({ id: msg.id, heap: heapAfterGc() });
  if (msg.cmd === 'stats') process.send!({ id: msg.id, stats: built.rt.stats() });
});
process.on('disconnect', () => process.exit(0));
process.send!({ port: running.port });
