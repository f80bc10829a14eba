/**
 * The namespaces this instance hosts, by literal path. It emits `create` and `delete`, which the
 * realtime server follows to subscribe to and unsubscribe from each namespace's bus channel.
 */
import { EventEmitter } from 'node:events';
import type { Namespace } from './namespace.ts';

export class NamespaceRegistry extends EventEmitter<{ create: [Namespace]; delete: [Namespace] }> {
  readonly #byPath = new Map<string, Namespace>();

  get(path: string): Namespace | undefined {
    return this.#byPath.get(path);
  }

  has(path: string): boolean {
    return this.#byPath.has(path);
  }

  /** Live namespaces of this instance. */
  list(): Namespace[] {
    return [...this.#byPath.values()];
  }

  get size(): number {
    return this.#byPath.size;
  }

  /** The namespace at `path`, created with `create` the first time. */
  getOrCreate(path: string, create: () => Namespace): Namespace {
    let ns = this.#byPath.get(path);
    if (!ns) {
      ns = create();
      this.#byPath.set(path, ns);
      this.emit('create', ns);
    }
    return ns;
  }

  /** @internal Drops the namespace from the map (the caller has closed its clients). */
  delete(ns: Namespace): boolean {
    if (this.#byPath.get(ns.path) !== ns) return false;
    this.#byPath.delete(ns.path);
    this.emit('delete', ns);
    return true;
  }
}
