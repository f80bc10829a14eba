/**
 * The broker: the one seam for what crosses instances. It deals in namespace paths and bytes,
 * never in connections (the registry is the truth of what this instance hosts), and holds both
 * halves of a broadcast's way out: the bus (publish/subscribe per namespace) and the namespace's
 * log (seq, stored frames, replay and history). A sequenced broadcast is numbered, logged and
 * published in one atomic step of the broker, so no combination of a bus and a log can disagree.
 * Memory (one process) and Redis (several instances, on one Redis or a Redis Cluster) each
 * implement the whole seam.
 */
import type { ReplayHead } from '../../protocol/frames.ts';

/** Receives one published payload, exactly as it was published. */
export type PayloadHandler = (payload: Buffer) => void;

/** Health of the broker's connections, as shown by `/health` and `/ready`. */
export type BrokerState = 'ok' | 'degraded';

/** What a namespace's log keeps (its `replay` option, after defaults). */
export interface LogPolicy {
  /** Broadcasts kept per namespace path. */
  size: number;
  /** A broadcast older than this is no longer replayed or listed. */
  maxAgeMs: number;
}

/** One logged broadcast, as it was published (envelope header line, then the sequenced frame). */
export interface LogEntry {
  seq: number;
  /** When the broker logged it (ms since the epoch, the broker's clock). */
  at: number;
  /** The envelope as published: header line, newline, frame. */
  envelope: Buffer;
}

/**
 * What a sync asked for: every entry after `since`, oldest first, or `ok: false` (a gap) when the
 * log cannot cover it. `head` is where the log stood when it was read.
 */
export type LogRead = { ok: true; head: ReplayHead; entries: LogEntry[] } | { ok: false; head: ReplayHead };

/** A page of a namespace's log, oldest first, read at one instant with the head. */
export interface LogPage {
  head: ReplayHead;
  entries: LogEntry[];
}

/** Which page of the log `history` reads: the newest `limit` entries before `before` (default: all). */
export interface HistoryQuery {
  /** Entries with a seq below this one; default: up to the head. */
  before?: number;
  /** Most entries returned, newest kept. */
  limit: number;
}

/** The head of a namespace that has never broadcast (or whose log is gone): nothing is created by reading it. */
export const EMPTY_HEAD: Readonly<ReplayHead> = Object.freeze({ seq: 0, epoch: '' });

export interface Broker {
  /** `memory`, `redis` (one Redis) or `cluster` (a Redis Cluster). */
  readonly kind: string;
  /** Current health of every connection the broker needs. */
  state(): BrokerState;
  /**
   * Calls `listener` on every change of `state()`. After a change back to `ok` the broker may have
   * lost its subscriptions (Redis forgets them with the connection): the caller subscribes again
   * from what it hosts.
   */
  onStateChange(listener: (state: BrokerState) => void): void;
  /**
   * Calls `listener` with subscribed paths whose subscriptions were lost while `state()` stayed
   * `ok` (on a cluster: one node's subscriber connection died, or a slot moved to another node):
   * what was published on them meanwhile never came here. The caller subscribes them again (a
   * subscribe of a subscribed path makes sure of it anew) and tells their clients where the log
   * stands.
   */
  onSubscriptionsLost(listener: (paths: string[]) => void): void;
  /** On a cluster: the masters and replicas the broker's client knows of (`/health`). */
  nodes?(): { masters: number; replicas: number } | undefined;
  /** Subscribes this instance to the namespace's channel; one handler per path. Resolves once subscribed. */
  subscribe(path: string, handler: PayloadHandler): Promise<void>;
  /** Drops the subscription at once; a no-op when not subscribed. */
  unsubscribe(path: string): Promise<void>;
  /** Publishes an unsequenced payload to every instance subscribed to `path` (this one included). */
  publish(path: string, payload: Buffer): Promise<void>;
  /**
   * The atomic step of a sequenced broadcast: gives it the next seq of `path`'s log (starting a new
   * epoch when the log is gone), appends it and publishes it, as one step no other broadcast of
   * `path` can come between. `header` is the envelope header (JSON object text), `body` the frame
   * `{"type":…,"data":…}` serialized once. Resolves with its seq; rejects when it could not be done
   * (then nothing was published, unless the connection died after the broker did it: the copy is
   * then recognised by its seq).
   */
  append(path: string, header: string, body: Buffer, policy: LogPolicy): Promise<ReplayHead>;
  /** Where the log stands; `EMPTY_HEAD` when there is none. Creates nothing. */
  head(path: string): Promise<ReplayHead>;
  /**
   * Every entry after `since` in `epoch`, all or nothing. `epoch` '' with `since` 0 (a client that
   * read an empty head) is served from seq 1 when the log still holds it. Creates nothing.
   */
  since(path: string, since: number, epoch: string, policy: LogPolicy): Promise<LogRead>;
  /** A page of the log with the head, read at one instant (REST state, history). Creates nothing. */
  history(path: string, query: HistoryQuery, policy: LogPolicy): Promise<LogPage>;
  /** Closes its connections; further calls fail. */
  close(): Promise<void>;
}
