/**
 * The broker in one process. A `MemoryHub` stands for Redis: its channels and its namespace logs.
 * Every app instance gets its own `MemoryBroker` on the hub, so several servers in one process
 * behave like several nodes on one Redis.
 */
import { stampHeader } from './envelope.ts';
import { newEpoch, sequenceFrame } from './sequence.ts';
import type { ReplayHead } from '../../protocol/frames.ts';
import { EMPTY_HEAD, type Broker, type BrokerState, type HistoryQuery, type LogEntry, type LogPage, type LogPolicy, type LogRead, type PayloadHandler } from './types.ts';

/** Bounds of a hub's logs: they outlive namespaces, so they must not outgrow the process. */
export interface MemoryHubOptions {
  /** Logs kept (least recently written forgotten first; a forgotten log starts a new epoch). Default 10000. */
  maxLogs?: number;
  /** Bytes of logged frames kept across all logs (same eviction). Default 64 MiB. */
  maxBytes?: number;
}

interface Log {
  epoch: string;
  seq: number;
  /** Oldest first; entry i has seq `seq - entries.length + 1 + i`. */
  entries: LogEntry[];
  bytes: number;
}

/** Channels and logs shared by the brokers of one process. */
export class MemoryHub {
  readonly maxLogs: number;
  readonly maxBytes: number;
  readonly #channels = new Map<string, Set<MemoryBroker>>();
  // A Map iterates in insertion order: re-inserting on write keeps the least recently written first.
  readonly #logs = new Map<string, Log>();
  #bytes = 0;

  constructor(options: MemoryHubOptions = {}) {
    this.maxLogs = options.maxLogs ?? 10_000;
    this.maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
    if (!(this.maxLogs >= 1)) throw new RangeError('maxLogs must be 1 or more');
    if (!(this.maxBytes >= 1024)) throw new RangeError('maxBytes must be 1024 or more');
  }

  /** Paths with at least one subscriber (the memory twin of `PUBSUB SHARDCHANNELS`). */
  channels(): string[] {
    return [...this.#channels.keys()];
  }

  /** Bytes of frames held by the logs (tests, stats). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Logs held (tests, stats). */
  get logs(): number {
    return this.#logs.size;
  }

  /** Forgets every log, as a Redis restarted without persistence would (tests). */
  clearLogs(): void {
    this.#logs.clear();
    this.#bytes = 0;
  }

  /** @internal */
  join(path: string, member: MemoryBroker): void {
    let set = this.#channels.get(path);
    if (!set) this.#channels.set(path, (set = new Set()));
    set.add(member);
  }

  /** @internal */
  leave(path: string, member: MemoryBroker): void {
    const set = this.#channels.get(path);
    if (!set) return;
    set.delete(member);
    if (set.size === 0) this.#channels.delete(path);
  }

  /** @internal Delivery is synchronous and in publish order. */
  publish(path: string, payload: Buffer): void {
    const set = this.#channels.get(path);
    if (set) for (const member of set) member.deliver(path, payload);
  }

  /** @internal Numbers, logs and publishes in one synchronous step: nothing can come between. */
  append(path: string, header: string, body: Buffer, policy: LogPolicy): ReplayHead {
    const now = Date.now();
    let log = this.#fresh(path, policy, now);
    if (!log) log = { epoch: newEpoch(), seq: 0, entries: [], bytes: 0 };
    const head = { seq: log.seq + 1, epoch: log.epoch };
    const envelope = Buffer.concat([Buffer.from(`${stampHeader(header, now)}\n`), sequenceFrame(body, head)]);
    log.seq = head.seq;
    log.entries.push({ seq: head.seq, at: now, envelope });
    log.bytes += envelope.length;
    this.#bytes += envelope.length;
    while (log.entries.length > policy.size) this.#drop(log);
    this.#logs.delete(path);
    this.#logs.set(path, log);
    this.#evict(path);
    this.publish(path, envelope);
    return head;
  }

  /** @internal */
  head(path: string): ReplayHead {
    const log = this.#logs.get(path);
    return log ? { seq: log.seq, epoch: log.epoch } : { ...EMPTY_HEAD };
  }

  /** @internal */
  since(path: string, since: number, epoch: string, policy: LogPolicy): LogRead {
    const log = this.#fresh(path, policy, Date.now());
    if (!log) return since === 0 && epoch === '' ? { ok: true, head: { ...EMPTY_HEAD }, entries: [] } : { ok: false, head: { ...EMPTY_HEAD } };
    const head = { seq: log.seq, epoch: log.epoch };
    // A client that read an empty head has every seq of an epoch that began after its read.
    const sameEpoch = epoch === log.epoch || (epoch === '' && since === 0);
    const wanted = log.seq - since;
    if (!sameEpoch || wanted < 0 || wanted > log.entries.length) return { ok: false, head };
    return { ok: true, head, entries: log.entries.slice(log.entries.length - wanted) };
  }

  /** @internal */
  history(path: string, query: HistoryQuery, policy: LogPolicy): LogPage {
    const log = this.#fresh(path, policy, Date.now());
    if (!log) return { head: { ...EMPTY_HEAD }, entries: [] };
    const before = query.before ?? log.seq + 1;
    const older = log.entries.filter((e) => e.seq < before);
    return { head: { seq: log.seq, epoch: log.epoch }, entries: older.slice(Math.max(0, older.length - query.limit)) };
  }

  /**
   * The log of `path` without its entries past the age limit. An idle log whose every entry
   * expired keeps its seq and epoch (clients still counting on it see no hole).
   */
  #fresh(path: string, policy: LogPolicy, now: number): Log | undefined {
    const log = this.#logs.get(path);
    if (!log) return undefined;
    while (log.entries.length && log.entries[0]!.at < now - policy.maxAgeMs) this.#drop(log);
    return log;
  }

  #drop(log: Log): void {
    const entry = log.entries.shift()!;
    log.bytes -= entry.envelope.length;
    this.#bytes -= entry.envelope.length;
  }

  /** Forgets the least recently written logs (never `keep`) until both bounds hold. */
  #evict(keep: string): void {
    for (const [path, log] of this.#logs) {
      if (this.#logs.size <= this.maxLogs && this.#bytes <= this.maxBytes) return;
      if (path === keep) continue;
      this.#logs.delete(path);
      this.#bytes -= log.bytes;
    }
  }
}

/** One instance's broker on a `MemoryHub`. It never goes down: its state is always `ok`. */
export class MemoryBroker implements Broker {
  readonly kind = 'memory';
  readonly hub: MemoryHub;
  readonly #handlers = new Map<string, PayloadHandler>();
  #closed = false;

  constructor(hub: MemoryHub = new MemoryHub()) {
    this.hub = hub;
  }

  state(): BrokerState {
    return 'ok';
  }

  /** An in-process hub never goes away: the listener is never called. */
  onStateChange(_listener: (state: BrokerState) => void): void {}

  /** Nor does it drop a subscription: never called either. */
  onSubscriptionsLost(_listener: (paths: string[]) => void): void {}

  async subscribe(path: string, handler: PayloadHandler): Promise<void> {
    this.#open();
    this.#handlers.set(path, handler);
    this.hub.join(path, this);
  }

  async unsubscribe(path: string): Promise<void> {
    this.#handlers.delete(path);
    this.hub.leave(path, this);
  }

  async publish(path: string, payload: Buffer): Promise<void> {
    this.#open();
    this.hub.publish(path, payload);
  }

  async append(path: string, header: string, body: Buffer, policy: LogPolicy): Promise<ReplayHead> {
    this.#open();
    return this.hub.append(path, header, body, policy);
  }

  async head(path: string): Promise<ReplayHead> {
    this.#open();
    return this.hub.head(path);
  }

  async since(path: string, since: number, epoch: string, policy: LogPolicy): Promise<LogRead> {
    this.#open();
    return this.hub.since(path, since, epoch, policy);
  }

  async history(path: string, query: HistoryQuery, policy: LogPolicy): Promise<LogPage> {
    this.#open();
    return this.hub.history(path, query, policy);
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const path of this.#handlers.keys()) this.hub.leave(path, this);
    this.#handlers.clear();
  }

  /** @internal */
  deliver(path: string, payload: Buffer): void {
    this.#handlers.get(path)?.(payload);
  }

  #open(): void {
    if (this.#closed) throw new Error('broker is closed');
  }
}
