/**
 * Process wiring of graceful shutdown: SIGTERM or SIGINT drains the realtime server (upgrades
 * refused as retryable, clients closed with 1012 in staggered batches), closes the broker and the
 * listener, and exits. The exit is bounded: past the timeout the process exits anyway, and a
 * second signal exits at once.
 *
 * A signal sent to the whole process group (Ctrl-C in a terminal, `kill -- -PGID`, systemd)
 * reaches this process directly and again through its parent (`npm start` relays it): a copy
 * arriving within `DUPLICATE_SIGNAL_MS` of the first is that relay, not a deliberate second signal.
 */
import type { Realtime } from 'hono-namespaces';
import type { Logger } from './log.ts';
import type { RunningServer } from './server.ts';

/** Signals this close to the first are one signal delivered twice (to the group, and relayed by the parent). */
export const DUPLICATE_SIGNAL_MS = 1000;

/** Installs the signal handlers of a running app. */
export function exitOnSignals(built: { rt: Realtime; log: Logger }, running: RunningServer, options: { spreadMs: number; timeoutMs: number }): void {
  let stoppingSince: number | undefined;
  const stop = async function stop(signal: NodeJS.Signals): Promise<void> {
    if (stoppingSince !== undefined) {
      if (performance.now() - stoppingSince < DUPLICATE_SIGNAL_MS) {
        built.log.debug({ signal }, 'signal delivered twice (group and parent): still shutting down');
        return;
      }
      built.log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stoppingSince = performance.now();
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
