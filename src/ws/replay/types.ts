/**
 * The replay seam: where each replayable broadcast gets its place in a namespace's one sequence,
 * is kept for a while, and is read back for a client that missed it. Memory in one process, Redis
 * across several (where assigning the seq, storing and publishing are one atomic script).
 */

/** A namespace's replay option, after defaults. */
export interface ReplayPolicy {
  /** Broadcasts kept per namespace path. */
  size: number;
  /** A broadcast older than this is no longer replayed (a client missing it is told `gap`). */
  maxAgeMs: number;
}

/** Where a namespace's sequence stands: the last seq given out, in which epoch. */
export interface ReplayHead {
  seq: number;
  /** Changes whenever the sequence starts over (buffer lost: Redis flushed, process restarted, expired). */
  epoch: string;
}

/**
 * What a sync asked for: every envelope after `since` (oldest first, each as stored and
 * published), or `gap` when the buffer cannot cover it. `head` is where the sequence stood.
 */
export type ReplayRead = { ok: true; head: ReplayHead; envelopes: Buffer[] } | { ok: false; head: ReplayHead };

/** Publishes a payload on a namespace's bus channel (used by stores that do not publish themselves). */
export type PublishFn = (payload: Buffer) => Promise<void>;

export interface ReplayStore {
  /** `memory` or `redis`. */
  readonly kind: string;
  /**
   * Gives the broadcast the next seq of `path`, stores it and publishes it on `channel`, as one
   * step: no other broadcast of that path can come between. `header` is the envelope header
   * (JSON object text), `body` the frame `{"type":…,"data":…}` as serialized once by the origin.
   * Resolves with the seq given; rejects when it could not be done (nothing was published then,
   * unless the connection died after the store did it: the copy is then recognised by its header).
   */
  append(path: string, channel: string, header: string, body: Buffer, policy: ReplayPolicy, publish: PublishFn): Promise<ReplayHead>;
  /** The current head of `path` (creating its epoch if it has none yet). */
  head(path: string, policy: ReplayPolicy): Promise<ReplayHead>;
  /** Everything after `since` in `epoch`, or gap. */
  since(path: string, since: number, epoch: string, policy: ReplayPolicy): Promise<ReplayRead>;
  close(): Promise<void>;
}
