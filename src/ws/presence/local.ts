import type { PresenceEntry } from './types.ts';

/** One of this instance's members, and whether the store is known to hold it (others may have seen it). */
export interface LocalEntry extends PresenceEntry {
  confirmed: boolean;
}

/** This instance's members, per namespace path: what a presence service reports and restores. */
export class LocalMembers {
  readonly #byPath = new Map<string, Map<string, LocalEntry>>();

  /** Adds (or replaces) a member, not yet confirmed; returns its entry. */
  add(path: string, entry: PresenceEntry): LocalEntry {
    let members = this.#byPath.get(path);
    if (!members) this.#byPath.set(path, (members = new Map()));
    const local = { ...entry, confirmed: false };
    members.set(entry.member.clientId, local);
    return local;
  }

  /** Returns how many members `path` has left here. */
  remove(path: string, clientId: string): number {
    const members = this.#byPath.get(path);
    if (!members) return 0;
    members.delete(clientId);
    if (members.size === 0) this.#byPath.delete(path);
    return members.size;
  }

  /** Whether `entry` is still the one recorded here (not removed or replaced since). */
  holds(path: string, entry: LocalEntry): boolean {
    return this.#byPath.get(path)?.get(entry.member.clientId) === entry;
  }

  entries(path: string): LocalEntry[] {
    return [...(this.#byPath.get(path)?.values() ?? [])];
  }

  count(path: string): number {
    return this.#byPath.get(path)?.size ?? 0;
  }

  paths(): string[] {
    return [...this.#byPath.keys()];
  }

  clear(): void {
    this.#byPath.clear();
  }
}
