/**
 * The namespaces this instance hosts, by literal path. It emits `create` and `delete` (metrics,
 * logs, an app's own bookkeeping); the hub is the only one that adds or removes.
 */
import { EventEmitter } from 'node:events';
import type { Namespace } from '../namespace.ts';

export class NamespaceRegistry<N extends Namespace = Namespace> extends EventEmitter<{ create: [N]; delete: [N] }> {
  readonly #byPath = new Map<string, N>();

  get(path: string): N | undefined {
    return this.#byPath.get(path);
  }

  has(path: string): boolean {
    return this.#byPath.has(path);
  }

  /** Live namespaces of this instance. */
  list(): N[] {
    return [...this.#byPath.values()];
  }

  get size(): number {
    return this.#byPath.size;
  }

  /** @internal The namespace at `path`, created with `create` the first time. */
  getOrCreate(path: string, create: () => N): N {
    let ns = this.#byPath.get(path);
    if (!ns) {
      ns = create();
      this.#byPath.set(path, ns);
      this.emit('create', ns);
    }
    return ns;
  }

  /** @internal Drops the namespace from the map (its clients are closed). */
  delete(ns: N): boolean {
    if (this.#byPath.get(ns.path) !== ns) return false;
    this.#byPath.delete(ns.path);
    this.emit('delete', ns);
    return true;
  }
}
