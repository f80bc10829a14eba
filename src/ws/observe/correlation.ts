/**
 * Correlation ids: one id follows a unit of work (a received WebSocket message, an HTTP request)
 * through every await to the log line of the broadcast it causes, on this instance and, carried in
 * the bus envelope, on the instances that deliver it. The logger adds it to every line (see
 * `log.ts`), so handlers get it for free.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';

const storage = new AsyncLocalStorage<string>();

/** The correlation id of the work in progress, if any. */
export function correlationId(): string | undefined {
  return storage.getStore();
}

/** A fresh correlation id. */
export function newCorrelationId(): string {
  return randomUUID();
}

/** Runs `fn` (and everything it awaits or schedules) under `id`. */
export function withCorrelation<T>(id: string, fn: () => T): T {
  return storage.run(id, fn);
}
