import type { Member } from '../namespace.ts';
import { LocalMembers } from './local.ts';
import type { Presence, PresenceResult, PresenceState } from './types.ts';

/**
 * The shared side of in-process presence: one store stands for Redis, and every app instance in
 * the process gets its own `MemoryPresence` on it (instances die with the process, so no expiry).
 */
export class MemoryPresenceStore {
  /** @internal */
  readonly instances = new Set<LocalMembers>();
}

/** Presence within one process. */
export class MemoryPresence implements Presence {
  readonly kind = 'memory';
  readonly #store: MemoryPresenceStore;
  readonly #local = new LocalMembers();

  constructor(store: MemoryPresenceStore = new MemoryPresenceStore()) {
    this.#store = store;
    store.instances.add(this.#local);
  }

  async add(path: string, member: Member): Promise<void> {
    this.#local.add(path, member);
  }

  async remove(path: string, clientId: string): Promise<void> {
    this.#local.remove(path, clientId);
  }

  async members(path: string): Promise<PresenceResult> {
    return { members: [...this.#store.instances].flatMap((i) => i.of(path)), partial: false };
  }

  async paths(): Promise<string[]> {
    return [...new Set([...this.#store.instances].flatMap((i) => i.paths()))];
  }

  async counts(paths: readonly string[]): Promise<Map<string, number>> {
    const instances = [...this.#store.instances];
    return new Map(paths.map((p) => [p, instances.reduce((n, i) => n + i.count(p), 0)]));
  }

  state(): PresenceState {
    return 'ok';
  }

  async close(): Promise<void> {
    this.#local.clear();
    this.#store.instances.delete(this.#local);
  }
}
