import { silentLogger, type Logger } from '../observe/logger.ts';
import type { Member } from './types.ts';
import { InstancePresence } from './instance.ts';
import { countUsers, DEFAULT_PRESENCE_TTL_MS, REAPED_KEEP_MS, timingOf, type PathStatus, type PresenceStore, type PresenceTiming, type RefreshReply } from './store.ts';
import type { PresenceEntry } from './types.ts';

/** One path in the store: per instance, its deadline and members, and when an instance was reaped. */
interface PathData {
  deadlines: Map<number, number>;
  members: Map<number, Map<string, PresenceEntry>>;
  reaped: Map<number, number>;
}

/**
 * The shared side of in-process presence: one store stands for Redis, and every app instance in
 * the process gets its own `MemoryPresence` on it. It keeps the Redis contract (deadlines, one
 * ghost report per member, restore), and `cut(presence)` / `restore(presence)` stand for the
 * network between an instance and Redis, so ghost handling can be tested in one process.
 */
export class MemoryPresenceStore {
  readonly #paths = new Map<string, PathData>();
  readonly #handles = new WeakMap<MemoryPresence, MemoryStoreHandle>();
  #instances = 0;

  /** Cuts `presence` off from the store: its commands fail, and the others take it for dead after its deadline. */
  cut(presence: MemoryPresence): void {
    this.#handles.get(presence)?.setConnected(false);
  }

  /** Gives `presence` its store back (it then rewrites its members and finds out whether it was reaped). */
  restore(presence: MemoryPresence): void {
    this.#handles.get(presence)?.setConnected(true);
  }

  /** @internal A handle for a new instance. */
  open(timing: PresenceTiming): MemoryStoreHandle {
    return new MemoryStoreHandle(this, ++this.#instances, timing);
  }

  /** @internal */
  attach(presence: MemoryPresence, handle: MemoryStoreHandle): void {
    this.#handles.set(presence, handle);
  }

  /** @internal */
  data(path: string, create: boolean): PathData | undefined {
    let data = this.#paths.get(path);
    if (!data && create) this.#paths.set(path, (data = { deadlines: new Map(), members: new Map(), reaped: new Map() }));
    return data;
  }

  /** @internal Drops a path nobody is in. */
  tidy(path: string, data: PathData): void {
    if (data.deadlines.size === 0) this.#paths.delete(path);
  }

  /** @internal */
  allPaths(): IterableIterator<[string, PathData]> {
    return this.#paths.entries();
  }
}

/** Members of the instances of `data` still within their deadline. */
function* liveMembers(data: PathData, now: number): Generator<Member> {
  for (const [instance, deadline] of data.deadlines) {
    if (deadline < now) continue;
    for (const entry of data.members.get(instance)?.values() ?? []) yield entry.member;
  }
}

/** One instance's view of a `MemoryPresenceStore`, with the semantics of the Redis scripts. */
class MemoryStoreHandle implements PresenceStore {
  readonly #store: MemoryPresenceStore;
  readonly #me: number;
  readonly #timing: PresenceTiming;
  #connected = true;
  readonly #listeners: Array<(up: boolean) => void> = [];

  constructor(store: MemoryPresenceStore, me: number, timing: PresenceTiming) {
    this.#store = store;
    this.#me = me;
    this.#timing = timing;
  }

  setConnected(up: boolean): void {
    if (this.#connected === up) return;
    this.#connected = up;
    for (const listener of this.#listeners) listener(up);
  }

  async add(path: string, entry: PresenceEntry, options: { replaces: string | undefined; expected: boolean }): Promise<PathStatus> {
    const data = this.#data(path, true)!;
    const status = this.#statusIn(data);
    if (status !== 'ok') data.members.delete(this.#me);
    if (options.replaces !== undefined) {
      for (const [instance, members] of data.members) {
        if (!data.deadlines.has(instance) || !members.delete(options.replaces)) continue;
        if (members.size === 0) this.#drop(data, instance);
        break;
      }
    }
    this.#mine(data).set(entry.member.clientId, { member: entry.member, ctx: entry.ctx });
    this.#live(data);
    return status === 'absent' && !options.expected ? 'ok' : status;
  }

  async remove(path: string, clientId: string): Promise<PathStatus> {
    const data = this.#data(path, false);
    const status = data ? this.#statusIn(data) : 'absent';
    if (!data || status !== 'ok') return status;
    const mine = this.#mine(data);
    mine.delete(clientId);
    if (mine.size === 0) this.#drop(data, this.#me);
    this.#store.tidy(path, data);
    return 'ok';
  }

  async beat(path: string): Promise<RefreshReply> {
    const data = this.#data(path, false);
    const status = data ? this.#statusIn(data) : 'absent';
    if (!data || status !== 'ok') return { status, ghosts: [], nextDeadlineInMs: undefined };
    const ghosts = this.#reap(data);
    this.#live(data);
    return { status, ghosts, nextDeadlineInMs: this.#nextDeadline(data) };
  }

  async rewrite(path: string, entries: readonly PresenceEntry[]): Promise<RefreshReply> {
    const data = this.#data(path, true)!;
    const reaped = data.reaped.delete(this.#me);
    data.members.set(this.#me, new Map(entries.map((e) => [e.member.clientId, { member: e.member, ctx: e.ctx }])));
    const ghosts = this.#reap(data);
    this.#live(data);
    return { status: reaped ? 'reaped' : 'ok', ghosts, nextDeadlineInMs: this.#nextDeadline(data) };
  }

  async leave(path: string): Promise<void> {
    const data = this.#data(path, false);
    if (!data) return;
    this.#drop(data, this.#me);
    this.#store.tidy(path, data);
  }

  async members(path: string): Promise<Member[]> {
    const data = this.#data(path, false);
    return data ? [...liveMembers(data, Date.now())] : [];
  }

  async count(path: string): Promise<number> {
    const data = this.#data(path, false);
    return data ? countUsers(liveMembers(data, Date.now())) : 0;
  }

  async paths(): Promise<string[]> {
    this.#check();
    const now = Date.now();
    const out: string[] = [];
    for (const [path, data] of this.#store.allPaths()) if (!liveMembers(data, now).next().done) out.push(path);
    return out;
  }

  /** The store lists paths by their members already. */
  async listPaths(): Promise<void> {
    this.#check();
  }

  connected(): boolean {
    return this.#connected;
  }

  onConnection(listener: (up: boolean) => void): void {
    this.#listeners.push(listener);
  }

  async close(): Promise<void> {
    this.#listeners.length = 0;
  }

  #check(): void {
    if (!this.#connected) throw new Error('cut off from the presence store');
  }

  #data(path: string, create: boolean): PathData | undefined {
    this.#check();
    return this.#store.data(path, create);
  }

  #statusIn(data: PathData): PathStatus {
    if (data.reaped.has(this.#me)) return 'reaped';
    return data.deadlines.has(this.#me) ? 'ok' : 'absent';
  }

  #mine(data: PathData): Map<string, PresenceEntry> {
    let mine = data.members.get(this.#me);
    if (!mine) data.members.set(this.#me, (mine = new Map()));
    return mine;
  }

  #drop(data: PathData, instance: number): void {
    data.members.delete(instance);
    data.deadlines.delete(instance);
  }

  #live(data: PathData): void {
    data.deadlines.set(this.#me, Date.now() + this.#timing.deadlineMs);
  }

  /** Removes the instances of `data` past their deadline; returns their members. */
  #reap(data: PathData): PresenceEntry[] {
    const now = Date.now();
    const ghosts: PresenceEntry[] = [];
    for (const [instance, deadline] of data.deadlines) {
      if (instance === this.#me || deadline >= now) continue;
      ghosts.push(...(data.members.get(instance)?.values() ?? []));
      this.#drop(data, instance);
      data.reaped.set(instance, now);
    }
    for (const [instance, at] of data.reaped) if (at < now - REAPED_KEEP_MS) data.reaped.delete(instance);
    return ghosts;
  }

  #nextDeadline(data: PathData): number | undefined {
    let next: number | undefined;
    for (const [instance, deadline] of data.deadlines) if (instance !== this.#me && (next === undefined || deadline < next)) next = deadline;
    return next === undefined ? undefined : next - Date.now();
  }
}


/** Options of `MemoryPresence`. */
export interface MemoryPresenceOptions {
  /** As `RedisPresenceOptions.ttlMs`. Default 10000. */
  ttlMs?: number;
  /** Where listener errors and state changes go. Default: nowhere. */
  logger?: Logger;
}

/** Presence within one process: every `MemoryPresence` on one `MemoryPresenceStore` is one instance. */
export class MemoryPresence extends InstancePresence {
  readonly kind = 'memory';

  constructor(store: MemoryPresenceStore = new MemoryPresenceStore(), options: MemoryPresenceOptions = {}) {
    const ttlMs = options.ttlMs ?? DEFAULT_PRESENCE_TTL_MS;
    const handle = store.open(timingOf(ttlMs));
    super(handle, ttlMs, options.logger ?? silentLogger);
    store.attach(this, handle);
  }
}
