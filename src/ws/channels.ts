/**
 * The bus subscription of each namespace this instance hosts, kept in step with the registry
 * (the source of truth): subscribed when a namespace comes to exist, unsubscribed a short delay
 * after it is removed unless it came back meanwhile (so a client leaving and another joining does
 * not thrash Redis), rolled back when subscribing fails, and restored for every hosted namespace
 * after the broker reconnects. Operations on one path run one after the other.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from './observe/logger.ts';
import type { Broker } from './broker/types.ts';

export interface NamespaceChannelsOptions {
  broker: Broker;
  /** Whether the namespace exists on this instance now. */
  isHosted(path: string): boolean;
  /** A payload arrived on the channel of `path`. */
  onPayload(path: string, payload: Buffer): void;
  /** Wait after a namespace is removed before unsubscribing. */
  unsubscribeDelayMs: number;
  log: Logger;
}

interface Entry {
  subscribed: boolean;
  /** Tail of this path's operations. */
  op: Promise<void>;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Emits `subscribed`, `unsubscribed` and `failed` with the path (logs, tests), and `restored` when
 * a subscription lost with the broker's connection is back (what was published meanwhile never
 * came here).
 */
export class NamespaceChannels extends EventEmitter<{ subscribed: [string]; unsubscribed: [string]; failed: [string]; restored: [string] }> {
  readonly #entries = new Map<string, Entry>();
  readonly #o: NamespaceChannelsOptions;

  constructor(options: NamespaceChannelsOptions) {
    super();
    if (!(options.unsubscribeDelayMs >= 0)) throw new TypeError('unsubscribeDelayMs must be 0 or more');
    this.#o = options;
  }

  /** The namespace came to exist: subscribe (or keep) its channel. Resolves when done; never rejects. */
  want(path: string): Promise<void> {
    let entry = this.#entries.get(path);
    if (!entry) this.#entries.set(path, (entry = { subscribed: false, op: Promise.resolve(), timer: undefined }));
    clearTimeout(entry.timer);
    entry.timer = undefined;
    return this.#sync(path, entry);
  }

  /** The namespace was removed: unsubscribe after the delay, if it has not come back by then. */
  release(path: string): void {
    const entry = this.#entries.get(path);
    if (!entry) return;
    clearTimeout(entry.timer);
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      void this.#sync(path, entry);
    }, this.#o.unsubscribeDelayMs);
    entry.timer.unref();
  }

  /** Whether the channel of `path` is subscribed as far as this instance knows. */
  isSubscribed(path: string): boolean {
    return this.#entries.get(path)?.subscribed === true;
  }

  /** Resolves once every pending operation has settled (tests, shutdown). */
  async settled(): Promise<void> {
    await Promise.all([...this.#entries.values()].map((e) => e.op));
  }

  /** The broker reconnected and lost every subscription: subscribe each hosted namespace again. */
  resubscribeAll(): void {
    const paths = [...this.#entries.keys()];
    if (paths.length) this.#o.log.info({ namespaces: paths.length }, 'resubscribing namespaces after reconnect');
    for (const [path, entry] of this.#entries) {
      entry.op = entry.op.then(() => {
        entry.subscribed = false;
      });
      if (entry.timer !== undefined) continue;
      void this.#sync(path, entry).then(() => {
        if (entry.subscribed && this.#entries.get(path) === entry) this.emit('restored', path);
      });
    }
  }

  /** Stops pending unsubscribe timers (the broker is about to close). */
  close(): void {
    for (const entry of this.#entries.values()) clearTimeout(entry.timer);
    this.#entries.clear();
  }

  #sync(path: string, entry: Entry): Promise<void> {
    const { broker, isHosted, onPayload, log } = this.#o;
    entry.op = entry.op.then(async () => {
      if (this.#entries.get(path) !== entry) return;
      if (isHosted(path)) {
        if (entry.subscribed) return;
        try {
          await broker.subscribe(path, (payload) => onPayload(path, payload));
          entry.subscribed = true;
          this.emit('subscribed', path);
        } catch (err) {
          // The broker rolled its side back; this stays unsubscribed, local clients are still
          // served, and the next reconnect (or the next creation of the namespace) tries again.
          log.warn({ err, path }, 'subscribe failed: namespace serves local clients only');
          this.emit('failed', path);
        }
        return;
      }
      if (entry.timer !== undefined) return;
      this.#entries.delete(path);
      const was = entry.subscribed;
      entry.subscribed = false;
      try {
        await broker.unsubscribe(path);
        if (was) this.emit('unsubscribed', path);
      } catch (err) {
        log.warn({ err, path }, 'unsubscribe failed');
      }
    });
    return entry.op;
  }
}
