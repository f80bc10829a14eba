/**
 * Process wiring of graceful shutdown: SIGTERM or SIGINT drains the realtime server (upgrades
 * refused as retryable, clients closed with 1012 in staggered batches), closes the broker and the
 * listener, and exits. The exit is bounded: past the timeout the process exits anyway, and a
 * second signal exits at once.
 */
import type { BuiltApp } from './app.ts';
import type { RunningServer } from './server.ts';

/** Installs the signal handlers of a running app. */
export function exitOnSignals(built: BuiltApp, running: RunningServer, options: { spreadMs: number; timeoutMs: number }): void {
  let stopping = false;
  const stop = async function stop(signal: NodeJS.Signals): Promise<void> {
    if (stopping) {
      built.log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    built.log.info({ signal, clients: built.rt.stats().clients }, 'shutting down');
    // A margin over the drain timeout for the broker and listener to close.
    setTimeout(() => {
      built.log.error('shutdown timed out; exiting');
      process.exit(1);
    }, options.timeoutMs + 2000).unref();
    try {
      await built.rt.shutdown({ spreadMs: Math.min(options.spreadMs, options.timeoutMs), timeoutMs: options.timeoutMs });
      await running.close();
      built.log.info('shut down cleanly');
      process.exit(0);
    } catch (err) {
      built.log.error({ err }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.on('SIGTERM', (signal) => void stop(signal));
  process.on('SIGINT', (signal) => void stop(signal));
}
