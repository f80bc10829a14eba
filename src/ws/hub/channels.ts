/**
 * The bus subscription of each namespace this instance hosts, kept in step with the registry
 * (the source of truth): subscribed when a namespace comes to exist, unsubscribed a short delay
 * after it is removed unless it came back meanwhile (so a client leaving and another joining does
 * not thrash Redis), rolled back and retried with backoff when subscribing fails, restored for
 * every hosted namespace after the broker reconnects, and for those the broker reports lost (a
 * cluster node's subscriber died, a slot moved). Operations on one path run one after the other.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from '../observe/logger.ts';
import type { Broker } from '../broker/types.ts';

/** Who gets what arrives on a namespace's channel (the fanout). */
export interface PayloadReceiver {
  receive(path: string, payload: Buffer): void;
}

/** Which namespaces live here (the registry): a channel is kept subscribed only for those. */
export interface HostedPaths {
  has(path: string): boolean;
}

interface Entry {
  subscribed: boolean;
  /** Its last subscribe failed (it is retried). */
  failed: boolean;
  /** What was published while it was not subscribed never came: `restored` is due once it is. */
  behind: boolean;
  /** Failed subscribes in a row (the retry backoff). */
  attempts: number;
  /** Tail of this path's operations. */
  op: Promise<void>;
  /** Operations chained on `op` that have not finished. */
  queued: number;
  /** The delayed unsubscribe. */
  timer: NodeJS.Timeout | undefined;
  retry: NodeJS.Timeout | undefined;
}

/** Retries of a failed subscribe: full jitter up to this, doubling from `RETRY_BASE_MS`. */
const RETRY_MAX_MS = 2000;
const RETRY_BASE_MS = 50;

const SETTLED: Promise<void> = Promise.resolve();

/**
 * Emits `subscribed`, `unsubscribed` and `failed` with the path (logs, tests), and `restored` when
 * a subscription that was lost or had failed is back (what was published meanwhile never came
 * here).
 */
export class NamespaceChannels extends EventEmitter<{ subscribed: [string]; unsubscribed: [string]; failed: [string]; restored: [string] }> {
  readonly #entries = new Map<string, Entry>();
  readonly #broker: Broker;
  readonly #hosted: HostedPaths;
  readonly #receiver: PayloadReceiver;
  readonly #unsubscribeDelayMs: number;
  readonly #log: Logger;

  constructor(broker: Broker, hosted: HostedPaths, receiver: PayloadReceiver, unsubscribeDelayMs: number, log: Logger) {
    super();
    if (!(unsubscribeDelayMs >= 0)) throw new TypeError('unsubscribeDelayMs must be 0 or more');
    this.#broker = broker;
    this.#hosted = hosted;
    this.#receiver = receiver;
    this.#unsubscribeDelayMs = unsubscribeDelayMs;
    this.#log = log;
    broker.onSubscriptionsLost((paths) => this.#resubscribe(paths));
  }

  /** A namespace lives here: subscribe (or keep) its channel. Resolves when done; never rejects. */
  subscribe(path: string): Promise<void> {
    let entry = this.#entries.get(path);
    if (!entry) this.#entries.set(path, (entry = { subscribed: false, failed: false, behind: false, attempts: 0, op: SETTLED, queued: 0, timer: undefined, retry: undefined }));
    clearTimeout(entry.timer);
    entry.timer = undefined;
    // Subscribed and nothing queued: done already. Most joins land here, and chaining a step
    // for each would cost every connect a promise and an async function for nothing.
    if (entry.subscribed && entry.queued === 0) return SETTLED;
    return this.#sync(path, entry);
  }

  /** The namespace was removed: unsubscribe after the delay, if it has not come back by then. */
  unsubscribeLater(path: string): void {
    const entry = this.#entries.get(path);
    if (!entry) return;
    clearTimeout(entry.timer);
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      void this.#sync(path, entry);
    }, this.#unsubscribeDelayMs);
    entry.timer.unref();
  }

  /** Whether the channel of `path` is subscribed as far as this instance knows. */
  isSubscribed(path: string): boolean {
    return this.#entries.get(path)?.subscribed === true;
  }

  /** Hosted namespaces whose subscription failed and is being retried: this instance misses their broadcasts from others. */
  failing(): string[] {
    return [...this.#entries].filter(([path, e]) => e.failed && this.#hosted.has(path)).map(([path]) => path);
  }

  /** Resolves once every pending operation has settled (tests, shutdown). */
  async settled(): Promise<void> {
    await Promise.all([...this.#entries.values()].map((e) => e.op));
  }

  /** The broker reconnected and lost every subscription: subscribe each hosted namespace again. */
  resubscribeAll(): void {
    const paths = [...this.#entries.keys()];
    if (paths.length) this.#log.info({ namespaces: paths.length }, 'resubscribing namespaces after reconnect');
    this.#resubscribe(paths);
  }

  /** Stops pending unsubscribe and retry timers (the broker is about to close). */
  close(): void {
    for (const entry of this.#entries.values()) {
      clearTimeout(entry.timer);
      clearTimeout(entry.retry);
    }
    this.#entries.clear();
  }

  /** Subscriptions of `paths` are gone (or may be): subscribe them again, and say `restored` once they are. */
  #resubscribe(paths: Iterable<string>): void {
    for (const path of paths) {
      const entry = this.#entries.get(path);
      if (!entry) continue;
      entry.queued++;
      entry.op = entry.op.then(() => {
        entry.subscribed = false;
        entry.behind = true;
        entry.queued--;
      });
      if (entry.timer === undefined) void this.#sync(path, entry);
    }
  }

  /** Tries a failed subscribe again later, while the namespace is hosted; a broker that is down resubscribes everything once it is back. */
  #retryLater(path: string, entry: Entry): void {
    if (entry.retry !== undefined || this.#broker.state() !== 'ok') return;
    const delay = Math.round(Math.random() * Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** entry.attempts));
    entry.retry = setTimeout(() => {
      entry.retry = undefined;
      if (this.#entries.get(path) === entry) void this.#sync(path, entry);
    }, delay);
    entry.retry.unref();
  }

  #sync(path: string, entry: Entry): Promise<void> {
    const log = this.#log;
    entry.queued++;
    entry.op = entry.op.then(async () => {
      if (this.#entries.get(path) !== entry) return;
      if (this.#hosted.has(path)) {
        if (entry.subscribed) return;
        try {
          await this.#broker.subscribe(path, (payload) => this.#receiver.receive(path, payload));
        } catch (err) {
          // The broker rolled its side back; this stays unsubscribed, local clients are still
          // served, and it is tried again (or resubscribed with the rest when the broker is back).
          if (!entry.failed) log.warn({ err: String(err), path }, 'subscribe failed: namespace serves local clients only until it is subscribed');
          else log.debug({ err: String(err), path }, 'subscribe failed again');
          entry.failed = true;
          entry.behind = true;
          entry.attempts++;
          this.emit('failed', path);
          this.#retryLater(path, entry);
          return;
        }
        entry.subscribed = true;
        entry.attempts = 0;
        clearTimeout(entry.retry);
        entry.retry = undefined;
        if (entry.failed) log.info({ path }, 'subscribed again');
        entry.failed = false;
        this.emit('subscribed', path);
        if (entry.behind && this.#entries.get(path) === entry) {
          entry.behind = false;
          this.emit('restored', path);
        }
        return;
      }
      if (entry.timer !== undefined) return;
      clearTimeout(entry.retry);
      this.#entries.delete(path);
      const was = entry.subscribed;
      entry.subscribed = false;
      try {
        await this.#broker.unsubscribe(path);
        if (was) this.emit('unsubscribed', path);
      } catch (err) {
        log.warn({ err, path }, 'unsubscribe failed');
      }
    }).finally(() => {
      entry.queued--;
    });
    return entry.op;
  }
}
