import type { Member } from '../namespace.ts';

/** This instance's members, per namespace path: what a presence service reports and restores. */
export class LocalMembers {
  readonly #byPath = new Map<string, Map<string, Member>>();

  add(path: string, member: Member): void {
    let members = this.#byPath.get(path);
    if (!members) this.#byPath.set(path, (members = new Map()));
    members.set(member.clientId, member);
  }

  /** Returns how many members `path` has left here. */
  remove(path: string, clientId: string): number {
    const members = this.#byPath.get(path);
    if (!members) return 0;
    members.delete(clientId);
    if (members.size === 0) this.#byPath.delete(path);
    return members.size;
  }

  of(path: string): Member[] {
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
