import type { Hono } from 'hono';
import { PatternRouter } from 'hono/router/pattern-router';
import type { LogPolicy as ReplayPolicy } from '../broker/types.ts';

/** Where Hono keeps the original handler of a route mounted from a sub-app with its own onError. */
const COMPOSED_HANDLER = '__COMPOSED_HANDLER';

type Handler = (...args: never[]) => unknown;

/**
 * Which replay policy applies to a namespace path, for a broadcast into a namespace this instance
 * does not host (REST, jobs): the namespace middleware of each replay definition is looked up in
 * the app's own routes, and the path matched with Hono's pattern semantics.
 */
export class ReplayRoutes {
  readonly #byHandler = new WeakMap<Handler, ReplayPolicy>();
  readonly #app: Hono<any>;
  #router = new PatternRouter<ReplayPolicy>();
  #seen = -1;

  constructor(app: Hono<any>) {
    this.#app = app;
  }

  /** The namespace middleware `handler` serves a definition with `policy`. */
  register(handler: Handler, policy: ReplayPolicy): void {
    this.#byHandler.set(handler, policy);
    this.#seen = -1;
  }

  /** The policy of the namespace at `path`; undefined when it does not replay. */
  policyOf(path: string): ReplayPolicy | undefined {
    const routes = this.#app.routes;
    if (routes.length !== this.#seen) {
      this.#router = new PatternRouter<ReplayPolicy>();
      for (const route of routes) {
        const handler = route.handler as Handler & { [COMPOSED_HANDLER]?: Handler };
        const policy = this.#byHandler.get(handler[COMPOSED_HANDLER] ?? handler);
        if (policy && (route.method === 'GET' || route.method === 'ALL')) this.#router.add('GET', route.path, policy);
      }
      this.#seen = routes.length;
    }
    return this.#router.match('GET', path)[0][0]?.[0];
  }
}
