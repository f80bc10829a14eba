import type { Logger } from '../observe/logger.ts';
import type { Ctx } from '../ctx.ts';
import { LocalMembers } from './local.ts';
import { countUsers, timingOf, type PresenceStore, type PresenceTiming, type RefreshReply } from './store.ts';
import type { GhostListener, Member, Presence, PresenceAddOptions, PresenceEntry, PresenceResult, PresenceState, RestoredListener } from './types.ts';

/** Paths refreshed at once in a round: bounds the commands in flight on a large instance. */
const REFRESH_BATCH = 500;

/**
 * One instance's side of presence, over any `PresenceStore`: it keeps its own members, beats
 * every quarter of the TTL in each path it has members in (which reaps the dead there), and
 * rewrites a path whose state in the store it cannot vouch for (a command failed, the connection
 * came back, the store lost it, others reaped it). `MemoryPresence` and `RedisPresence` are this
 * class on their store.
 */
export abstract class InstancePresence implements Presence {
  abstract readonly kind: string;
  readonly timing: PresenceTiming;
  readonly #store: PresenceStore;
  readonly #log: Logger;
  readonly #local = new LocalMembers();
  /** Paths to rewrite, each with the mark of its latest failure (a rewrite clears only what it saw). */
  readonly #dirty = new Map<string, number>();
  #marks = 0;
  readonly #timer: NodeJS.Timeout;
  /** Extra beats planned for when another instance's deadline passes, so its ghosts come out on time. */
  readonly #reapTimers = new Map<string, NodeJS.Timeout>();
  readonly #ghostListeners: GhostListener[] = [];
  readonly #restoredListeners: RestoredListener[] = [];
  readonly #stateListeners: Array<(state: PresenceState) => void> = [];
  #lastFailed = false;
  #state: PresenceState;
  /** Whether `state()` has been `ok` once: the start-up connect is no recovery worth a log line. */
  #beenOk = false;
  #closed = false;
  #running: Promise<void> | undefined;
  #pending: Promise<void> | undefined;

  protected constructor(store: PresenceStore, ttlMs: number, log: Logger) {
    this.timing = timingOf(ttlMs);
    this.#store = store;
    this.#log = log;
    this.#state = this.state();
    this.#beenOk = this.#state === 'ok';
    store.onConnection((up) => {
      // Commands in flight when it dropped may or may not have run, and a failover may have lost
      // writes: every path is rewritten from what this instance knows.
      if (up) for (const path of this.#local.paths()) this.#markDirty(path);
      this.#updateState();
      if (up) void this.refresh();
    });
    this.#timer = setInterval(() => void this.refresh(), this.timing.beatMs);
    this.#timer.unref();
  }

  async add(path: string, member: Member, ctx: Ctx, options: PresenceAddOptions = {}): Promise<void> {
    if (this.#closed) return;
    const here = this.#local.count(path);
    const { replaces } = options;
    if (replaces !== undefined && replaces !== member.clientId) this.#local.remove(path, replaces);
    const entry = this.#local.add(path, { member, ctx });
    try {
      const status = await this.#store.add(path, entry, { replaces, first: here === 0, expected: here > 0 && !this.#dirty.has(path) });
      if (status === 'ok') entry.confirmed = true;
      else this.#resyncSoon(path);
    } catch (err) {
      this.#failed(path, 'add', err);
    }
  }

  async remove(path: string, clientId: string): Promise<void> {
    if (this.#closed) return;
    const left = this.#local.remove(path, clientId);
    try {
      const status = await this.#store.remove(path, clientId, left === 0);
      if (status !== 'ok' && left > 0) this.#resyncSoon(path);
    } catch (err) {
      this.#failed(path, 'remove', err);
    }
  }

  async members(path: string): Promise<PresenceResult> {
    try {
      if (this.#store.connected()) return { members: await this.#store.members(path), partial: false };
    } catch (err) {
      this.#readFailed(err, 'local members only');
    }
    return { members: this.#local.entries(path).map((e) => e.member), partial: true };
  }

  async paths(): Promise<string[]> {
    try {
      if (this.#store.connected()) return await this.#store.paths();
    } catch (err) {
      this.#readFailed(err, 'local paths only');
    }
    return this.#local.paths();
  }

  async counts(paths: readonly string[]): Promise<Map<string, number>> {
    const local = (path: string) => countUsers(this.#local.entries(path).map((e) => e.member));
    if (!this.#store.connected()) return new Map(paths.map((p) => [p, local(p)]));
    let failure: unknown;
    const counts = await Promise.all(
      paths.map((p) =>
        this.#store.count(p).catch((err: unknown) => {
          failure = err;
          return local(p);
        }),
      ),
    );
    if (failure !== undefined) this.#readFailed(failure, 'local counts where the store failed');
    return new Map(paths.map((p, i) => [p, counts[i]!]));
  }

  onGhosts(listener: GhostListener): void {
    this.#ghostListeners.push(listener);
  }

  onRestored(listener: RestoredListener): void {
    this.#restoredListeners.push(listener);
  }

  state(): PresenceState {
    return this.#store.connected() && !this.#lastFailed ? 'ok' : 'degraded';
  }

  onStateChange(listener: (state: PresenceState) => void): void {
    this.#stateListeners.push(listener);
  }

  /**
   * Runs a refresh round now (one also runs every quarter of the TTL): beats in every path this
   * instance has members in, reaping the dead there, and rewrites the paths it cannot vouch for.
   * Ghost and restored listeners have been called when it resolves. Never rejects.
   */
  refresh(): Promise<void> {
    if (this.#pending) return this.#pending;
    if (!this.#running) return (this.#running = this.#round().finally(() => (this.#running = undefined)));
    // One round at a time; calls made during a round share the one after it.
    return (this.#pending = this.#running.then(() => {
      this.#pending = undefined;
      return this.refresh();
    }));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    for (const timer of this.#reapTimers.values()) clearTimeout(timer);
    this.#reapTimers.clear();
    const paths = new Set([...this.#local.paths(), ...this.#dirty.keys()]);
    this.#local.clear();
    this.#dirty.clear();
    if (this.#store.connected()) {
      const results = await Promise.allSettled([...paths].map((p) => this.#store.leave(p)));
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) this.#log.debug({ err: String(failed.reason) }, 'presence close failed: the entries expire instead');
    }
    await this.#store.close();
  }

  async #round(): Promise<void> {
    if (this.#closed || !this.#store.connected()) return;
    const paths = [...new Set([...this.#local.paths(), ...this.#dirty.keys()])];
    let failure: unknown;
    for (let i = 0; i < paths.length; i += REFRESH_BATCH) {
      await Promise.all(paths.slice(i, i + REFRESH_BATCH).map((p) => this.#refreshPath(p).catch((err: unknown) => (failure = err))));
    }
    const listed = this.#local.paths();
    if (listed.length > 0) await this.#store.listPaths(listed).catch((err: unknown) => (failure = err));
    if (failure !== undefined) this.#log.debug({ err: String(failure) }, 'presence refresh failed');
    this.#lastFailed = failure !== undefined;
    this.#updateState();
  }

  async #refreshPath(path: string): Promise<void> {
    if (this.#closed) return;
    if (this.#dirty.has(path)) return this.#rewrite(path);
    if (this.#local.count(path) === 0) return;
    const reply = await this.#store.beat(path);
    this.#took(path, reply);
    if (reply.status !== 'ok') await this.#rewrite(path);
  }

  /** Writes this instance's members of `path` anew from its own state. */
  async #rewrite(path: string): Promise<void> {
    const mark = this.#dirty.get(path) ?? this.#markDirty(path);
    // Taken and sent in one go: a remove that follows is sent after it, so it cannot be undone by it.
    const entries = this.#local.entries(path);
    if (entries.length === 0) {
      await this.#store.leave(path);
      this.#cleaned(path, mark);
      return;
    }
    const wasConfirmed = entries.filter((e) => e.confirmed);
    const reply = await this.#store.rewrite(path, entries);
    this.#cleaned(path, mark);
    for (const entry of entries) entry.confirmed = true;
    this.#took(path, reply);
    if (reply.status === 'reaped') {
      const restored = wasConfirmed.filter((e) => this.#local.holds(path, e));
      if (restored.length > 0) this.#emit(this.#restoredListeners, path, restored, 'restored');
    }
  }

  /** Reports the ghosts a beat or rewrite removed, and plans an extra beat for the next deadline due before the next round. */
  #took(path: string, reply: RefreshReply): void {
    if (reply.ghosts.length > 0) this.#emit(this.#ghostListeners, path, reply.ghosts, 'ghost');
    const dueIn = reply.nextDeadlineInMs;
    if (dueIn === undefined || dueIn >= this.timing.beatMs || this.#reapTimers.has(path) || this.#closed) return;
    const timer = setTimeout(() => {
      this.#reapTimers.delete(path);
      this.#refreshPath(path).catch((err: unknown) => this.#failed(path, 'beat', err));
    }, dueIn + 1);
    timer.unref();
    this.#reapTimers.set(path, timer);
  }

  #emit(listeners: Array<GhostListener | RestoredListener>, path: string, entries: PresenceEntry[], what: string): void {
    if (this.#closed) return;
    for (const listener of listeners) {
      try {
        listener(path, entries.map(({ member, ctx }) => ({ member, ctx })));
      } catch (err) {
        this.#log.error({ err, path }, `presence ${what} listener threw`);
      }
    }
  }

  #markDirty(path: string): number {
    const mark = ++this.#marks;
    this.#dirty.set(path, mark);
    return mark;
  }

  #cleaned(path: string, mark: number): void {
    if (this.#dirty.get(path) === mark) this.#dirty.delete(path);
  }

  #resyncSoon(path: string): void {
    this.#markDirty(path);
    void this.refresh();
  }

  /** A write failed: the path is rewritten by the next round (the store may or may not have applied it). */
  #failed(path: string, what: string, err: unknown): void {
    this.#markDirty(path);
    this.#log.debug({ err: String(err), path }, `presence ${what} failed`);
    if (this.#store.connected()) {
      this.#lastFailed = true;
      this.#updateState();
    }
  }

  /** Logs a failed read: a warning when the store was reachable, debug while it is known to be down (no flood). */
  #readFailed(err: unknown, fallback: string): void {
    const level = this.#store.connected() ? 'warn' : 'debug';
    this.#log[level]({ err: String(err) }, `presence read failed: ${fallback}`);
  }

  #updateState(): void {
    const state = this.state();
    if (state === this.#state) return;
    this.#state = state;
    if (state === 'degraded') this.#log.warn({ presence: this.kind }, 'presence degraded');
    else if (this.#beenOk) this.#log.info({ presence: this.kind }, 'presence ok again');
    this.#beenOk ||= state === 'ok';
    for (const listener of this.#stateListeners) {
      try {
        listener(state);
      } catch (err) {
        this.#log.error({ err }, 'presence state listener threw');
      }
    }
  }
}

