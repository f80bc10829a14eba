/**
 * What "an ack means the broadcast is out" rests on: every broadcast a handler (or a REST request)
 * begins is tracked in the scope of that unit of work, through every await and timer it schedules,
 * so the framework can hold the ack (or the 2xx) until each one was sequenced and published, and
 * answer a retryable error instead when one was not. A handler need not await its broadcasts.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Context, MiddlewareHandler, Next } from 'hono';
import type { AppEnv } from '../types.ts';

const storage = new AsyncLocalStorage<BroadcastScope>();

export class BroadcastScope {
  readonly #pending: Array<Promise<boolean>> = [];
  #closed = false;

  /** The scope of the work in progress, if any. */
  static current(): BroadcastScope | undefined {
    return storage.getStore();
  }

  /** Runs `fn` (and everything it awaits or schedules) in this scope. */
  run<T>(fn: () => T): T {
    return storage.run(this, fn);
  }

  /** A broadcast began in this scope; `accepted` resolves false if it could not be done. Never rejects. */
  track(accepted: Promise<boolean>): void {
    // Begun after the answer went out (a timer of the handler's): no longer this scope's to answer for.
    if (!this.#closed) this.#pending.push(accepted);
  }

  /**
   * Resolves once every broadcast begun in the scope has settled, those begun while waiting
   * included: true when all were accepted. Closes the scope.
   */
  async settled(): Promise<boolean> {
    let ok = true;
    while (this.#pending.length > 0) {
      const results = await Promise.all(this.#pending.splice(0));
      if (results.includes(false)) ok = false;
    }
    this.#closed = true;
    return ok;
  }
}

/**
 * Runs a REST request in a broadcast scope: when a broadcast it began (awaited or not) could not
 * be sequenced and published, the client gets a retryable 503 instead of the route's success.
 */
export const restBroadcastScope: MiddlewareHandler<AppEnv> = function restBroadcastScope(c, next) {
  // An upgrade passes without the async frame of a scope it does not use.
  if (c.req.header('upgrade')?.toLowerCase() === 'websocket') return next();
  return scoped(c, next);
};

async function scoped(c: Context<AppEnv>, next: Next): Promise<void> {
  const scope = new BroadcastScope();
  await scope.run(next);
  if (!(await scope.settled()) && c.res.status < 400) {
    c.res = new Response(JSON.stringify({ error: 'the broadcast could not be delivered right now; try again' }), {
      status: 503,
      headers: { 'content-type': 'application/json', 'retry-after': '1' },
    });
  }
}
