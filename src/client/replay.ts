/**
 * The client's side of replay: follows the seq of a replay namespace's broadcasts, asks for what
 * it missed (`sync`) after a reconnect or on a hole, drops duplicates, and falls back to the
 * app's `resync` (a REST refetch) when the server answers `gap`. The app sees frames in seq
 * order, each once, replayed ones flagged `replayed: true`.
 */
import type { Frame, ReplayHead, ResyncResult } from './types.ts';

/** What the tracker needs from the client it serves. */
export interface ReplayIO {
  /** Sends a message if connected. */
  send(type: string, data: unknown): boolean;
  /** Hands frames to the app's handlers (frames the tracker kept back, after a resync). */
  deliver(frame: Frame): void;
  resync: (() => Promise<ResyncResult>) | undefined;
  onError(error: unknown): void;
  /** Drops the current socket and reconnects (the resync failed: try again from the start). */
  reconnect(reason: string): void;
  /** False once the client is closed. */
  alive(): boolean;
}

type Phase = 'live' | 'syncing' | 'resyncing';

export class ReplayTracker {
  readonly #io: ReplayIO;
  /** The namespace replays (its welcome carried `replay`). */
  #active = false;
  /** Last seq handed to the app (or covered by a resync), in `#epoch`; null before any. */
  #last: number | null = null;
  #epoch: string | null = null;
  #phase: Phase = 'live';
  /** Live frames seen during a resync, applied after it. */
  #buffer: Frame[] = [];
  /** A welcome that came while a resync was on its way: caught up from when the resync ends. */
  #welcomeDuringResync: { head: ReplayHead | null } | null = null;

  constructor(io: ReplayIO) {
    this.#io = io;
  }

  /** Where the app stands: the last seq it has, and its epoch (null before the first). */
  get position(): { seq: number | null; epoch: string | null } {
    return { seq: this.#last, epoch: this.#epoch };
  }

  /** A `welcome` arrived; `head` is its `replay` field (undefined when the namespace does not replay). */
  welcomed(head: ReplayHead | null | undefined): void {
    this.#buffer = [];
    if (head === undefined) {
      // Without replay every (re)connect may have missed broadcasts: the app's resync is the catch-up.
      this.#active = false;
      if (this.#io.resync) void this.#io.resync().catch((err: unknown) => this.#io.onError(err));
      return;
    }
    this.#active = true;
    if (this.#phase === 'resyncing') {
      this.#welcomeDuringResync = { head };
      return;
    }
    this.#catchUp(head);
  }

  /** A frame arrived; returns whether the app gets it (false: consumed, duplicate, or held back). */
  receive(frame: Frame): boolean {
    if (!this.#active) return true;
    if (frame.type === 'synced') {
      this.#synced(frame.data as ReplayHead);
      return false;
    }
    if (frame.type === 'gap') {
      this.#resync(frame.data as Partial<ReplayHead>);
      return false;
    }
    if (frame.type === 'head') {
      this.#told(frame.data as ReplayHead);
      return false;
    }
    if (frame.type === 'error' && frame.id === undefined && this.#phase === 'syncing' && (frame.data as { code?: unknown } | null)?.code === 'rate_limited') {
      // The sync (it has no id) was dropped by the rate limit: no synced will come. Start over:
      // the new welcome catches up from where the app stands (a direct socket reconnects through
      // its backoff; a subscription subscribes again, and one over the rate too comes back later).
      this.#phase = 'live';
      this.#io.reconnect('sync was rate limited');
      return true;
    }
    if (typeof frame.seq !== 'number') return true;
    return this.#sequenced(frame);
  }

  #sequenced(frame: Frame): boolean {
    const seq = frame.seq!;
    if (this.#phase === 'resyncing') {
      if (!this.#welcomeDuringResync) this.#buffer.push(frame);
      return false;
    }
    if (this.#last === null || this.#epoch === null) {
      // No known start (no resync hook, the head was unknown at welcome): start here.
      this.#last = seq;
      this.#epoch = frame.epoch ?? null;
      return frame.type !== 'skip';
    }
    if (frame.epoch !== this.#epoch) {
      // The namespace had no log when we read it: its first epoch began after, at seq 1.
      if (this.#epoch === '' && this.#last === 0 && seq === 1 && frame.epoch) {
        this.#epoch = frame.epoch;
        this.#last = seq;
        return frame.type !== 'skip';
      }
      if (this.#phase === 'live') this.#sync();
      return false;
    }
    if (seq <= this.#last) return false;
    if (seq > this.#last + 1) {
      // A hole (a frame lost on the way, or live frames overtaking a replay): drop and ask; the
      // answer brings this frame again, in its place.
      if (this.#phase === 'live') this.#sync();
      return false;
    }
    this.#last = seq;
    return frame.type !== 'skip';
  }

  /**
   * The server says where the log stands (its subscription was down a while, and frames may
   * have been published that never came): a hole or another epoch is synced over, and so is a
   * log that stands behind what this client has (it lost its newest entries with a Redis node,
   * and would give their seqs to new broadcasts: the sync answers `gap`).
   */
  #told(head: ReplayHead): void {
    if (this.#phase !== 'live' || this.#last === null || typeof head?.seq !== 'number') return;
    if (head.epoch !== this.#epoch || head.seq !== this.#last) this.#sync();
  }

  #catchUp(head: ReplayHead | null): void {
    if (this.#last === null) {
      if (this.#io.resync) {
        this.#resync(head ?? {});
        return;
      }
      if (head) ({ seq: this.#last, epoch: this.#epoch } = head);
      return;
    }
    if (head && head.epoch === this.#epoch && head.seq === this.#last) {
      this.#phase = 'live';
      return;
    }
    this.#sync();
  }

  #sync(): void {
    this.#phase = 'syncing';
    this.#io.send('sync', { since: this.#last, epoch: this.#epoch });
  }

  #synced(head: ReplayHead): void {
    if (this.#phase !== 'syncing') return;
    this.#phase = 'live';
    // Everything up to head.seq came; a shortfall means a replayed frame was lost: ask again.
    if (this.#last !== null && head.epoch === this.#epoch && head.seq > this.#last) this.#sync();
  }

  #resync(gap: Partial<ReplayHead> | { seq?: number | null; epoch?: string | null }): void {
    const resync = this.#io.resync;
    if (!resync) {
      // The app keeps no state to refetch: carry on from where the server stands.
      this.#last = typeof gap.seq === 'number' ? gap.seq : null;
      this.#epoch = typeof gap.epoch === 'string' ? gap.epoch : null;
      this.#phase = 'live';
      return;
    }
    this.#phase = 'resyncing';
    this.#buffer = [];
    this.#welcomeDuringResync = null;
    Promise.resolve()
      .then(resync)
      .then(
        (result) => {
          if (!this.#io.alive()) return;
          const { seq, epoch } = typeof result === 'number' ? { seq: result, epoch: undefined } : (result ?? ({} as Partial<ReplayHead>));
          if (typeof seq !== 'number' || !Number.isInteger(seq) || seq < 0) {
            throw new TypeError(`resync must resolve with the seq of the state it loaded (got ${JSON.stringify(result)})`);
          }
          this.#last = seq;
          this.#epoch = epoch ?? (typeof gap.epoch === 'string' ? gap.epoch : this.#epoch);
          this.#phase = 'live';
          const welcome = this.#welcomeDuringResync;
          this.#welcomeDuringResync = null;
          if (welcome) {
            this.#catchUp(welcome.head);
            return;
          }
          const buffered = this.#buffer;
          this.#buffer = [];
          for (const frame of buffered) if (this.#sequenced(frame)) this.#io.deliver(frame);
        },
      )
      .catch((err: unknown) => {
        if (!this.#io.alive()) return;
        this.#io.onError(err);
        this.#phase = 'live';
        this.#welcomeDuringResync = null;
        this.#io.reconnect('resync failed');
      });
  }
}
