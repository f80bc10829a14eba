/**
 * Broadcast delivery across instances. Every instance, the origin included, delivers a message
 * when it comes back from the broker, so all instances deliver a namespace's messages in the one
 * order the broker gave them. A broadcast is all or nothing: one the broker could not take reaches
 * nobody (its sender is told), so no client gets a half-done result; only volatile broadcasts
 * (presence events, cursors) are delivered to this instance's clients alone while the broker is
 * down, and may be dropped.
 *
 * When the broker will not bring a message back (this namespace's channel not subscribed yet, or
 * no more), the origin delivers to its own clients once the broker took it. Each message carries
 * the origin's number, so a copy that still comes back is dropped: local clients get every message
 * exactly once.
 */
import { correlationId, withCorrelation } from '../observe/correlation.ts';
import type { Logger } from '../observe/logger.ts';
import type { Broker, LogPolicy } from '../broker/types.ts';
import type { PayloadReceiver } from './channels.ts';
import type { Target } from '../live/live-namespace.ts';
import { unwrapEnvelope, wrapEnvelope, type EnvelopeHeader } from '../broker/envelope.ts';
import type { RealtimeEvents } from '../events.ts';
import { sequenceFrame } from '../broker/sequence.ts';
import type { ReplayHead } from '../../protocol/frames.ts';

/** Where a fanout delivers what it receives: the namespaces this instance hosts (the hub). */
export interface Recipients {
  /** Whether the namespace lives on this instance (has local clients to deliver to). */
  has(path: string): boolean;
  /** Whether this instance receives the channel of `path` now. */
  isSubscribed(path: string): boolean;
  /** Hands a frame to the local clients of `path`. */
  deliver(path: string, frame: Buffer, target: Target): void;
  /** Another instance removed the namespace everywhere. */
  removeEverywhere(path: string): void;
}

/** Sent and not settled yet; came back before its publish settled; delivered locally by the origin. */
type Pending = 'sent' | 'received' | 'local';

/** Locally delivered messages remembered in case their copy comes back; older ones are forgotten. */
export const MAX_REMEMBERED = 10_000;

export class Fanout implements PayloadReceiver {
  readonly #instanceId: string;
  readonly #broker: Broker;
  readonly #recipients: Recipients;
  readonly #events: RealtimeEvents;
  readonly #log: Logger;
  readonly #pending = new Map<number, Pending>();
  #n = 0;
  /** Volatile broadcasts delivered to local clients only, the broker being down (stats). */
  localOnly = 0;
  /** Broadcasts the broker could not take: sent to nobody, their senders told (stats). */
  refused = 0;

  constructor(instanceId: string, broker: Broker, recipients: Recipients, events: RealtimeEvents, log: Logger) {
    this.#instanceId = instanceId;
    this.#broker = broker;
    this.#recipients = recipients;
    this.#events = events;
    this.#log = log;
  }

  /** Locally delivered messages remembered in case their copy comes back (bounded by `MAX_REMEMBERED`). */
  get remembered(): number {
    let n = 0;
    for (const state of this.#pending.values()) if (state === 'local') n++;
    return n;
  }

  /**
   * Publishes an unsequenced frame to a namespace on every instance. Resolves false when the
   * broker could not take it (then nobody got it, unless it is volatile: local clients got it, or
   * it was dropped). Never rejects.
   */
  async publish(path: string, frame: Buffer, target: Target, volatile: boolean): Promise<boolean> {
    const n = ++this.#n;
    if (volatile && this.#broker.state() !== 'ok') {
      if (this.#recipients.has(path)) this.#deliverLocally(path, n, frame, target);
      return true;
    }
    const payload = wrapEnvelope(this.#header(n, target), frame);
    this.#published(path, frame, target);
    this.#pending.set(n, 'sent');
    this.#events.emit('published', { bytes: payload.length });
    try {
      await this.#broker.publish(path, payload);
    } catch (err) {
      this.#pending.delete(n);
      this.#failed(path, err, volatile ? 'volatile broadcast dropped' : 'broadcast refused');
      return volatile;
    }
    this.#settled(path, n, frame, target);
    return true;
  }

  /**
   * Publishes a broadcast of a logged namespace: the broker gives it the next seq, logs it and
   * publishes it in one step. Resolves with its seq, or undefined (logged, sent to nobody) when
   * that could not be done: a broadcast without its seq would be a hole nobody could replay.
   * Never rejects.
   */
  async publishSequenced(path: string, body: Buffer, target: Target, policy: LogPolicy): Promise<ReplayHead | undefined> {
    const n = ++this.#n;
    const header = JSON.stringify(this.#header(n, target));
    this.#published(path, body, target);
    this.#pending.set(n, 'sent');
    let head: ReplayHead;
    try {
      head = await this.#broker.append(path, header, body, policy);
    } catch (err) {
      this.#pending.delete(n);
      this.#failed(path, err, 'broadcast refused (it would have had no seq)');
      return undefined;
    }
    // Header, newline and body, plus the time, seq and epoch put in front of them.
    this.#events.emit('published', { bytes: header.length + body.length + 60 });
    this.#settled(path, n, sequenceFrame(body, head), target);
    return head;
  }

  /**
   * Publishes a control message to the instances subscribed to `path`'s channel (those hosting it).
   * Rejects when the broker cannot carry it: unlike a broadcast, the caller must know it was not sent.
   */
  publishControl(path: string, command: 'remove'): Promise<void> {
    const payload = wrapEnvelope({ o: this.#instanceId, k: command }, Buffer.alloc(0));
    this.#events.emit('published', { bytes: payload.length });
    return this.#broker.publish(path, payload).catch((err: unknown) => {
      this.#events.emit('brokerError', { op: 'publish' });
      throw err;
    });
  }

  /** A payload came from the broker on the channel of `path`. */
  receive(path: string, payload: Buffer): void {
    this.#events.emit('received', { bytes: payload.length });
    const envelope = unwrapEnvelope(payload);
    if (!envelope) {
      this.#events.emit('brokerError', { op: 'malformed' });
      this.#log.warn({ path }, 'dropped a malformed broker message');
      return;
    }
    const { header, frame } = envelope;
    if (header.k !== undefined) {
      // The origin acted before publishing; acting again could remove a namespace created since.
      if (header.o === this.#instanceId) return;
      if (header.k === 'remove') this.#recipients.removeEverywhere(path);
      else this.#log.warn({ path, command: header.k }, 'dropped an unknown broker control message');
      return;
    }
    if (header.o === this.#instanceId && typeof header.n === 'number') {
      const state = this.#pending.get(header.n);
      if (state === 'local') {
        this.#pending.delete(header.n);
        return;
      }
      if (state === 'sent') this.#pending.set(header.n, 'received');
    }
    const target: Target = header.t !== undefined ? { to: header.t } : header.x !== undefined ? { except: header.x } : {};
    if (header.c) withCorrelation(header.c, () => this.#recipients.deliver(path, frame, target));
    else this.#recipients.deliver(path, frame, target);
  }

  /** The broker took message `n`: if its copy has not come back and will not, deliver it here. */
  #settled(path: string, n: number, frame: Buffer, target: Target): void {
    const state = this.#pending.get(n);
    this.#pending.delete(n);
    if (state === 'sent' && this.#recipients.has(path) && !(this.#broker.state() === 'ok' && this.#recipients.isSubscribed(path))) {
      this.#deliverLocally(path, n, frame, target);
    }
  }

  #published(path: string, frame: Buffer, target: Target): void {
    if (target.to === undefined && this.#log.isLevelEnabled('debug')) this.#log.debug({ path, bytes: frame.length }, 'broadcast published');
  }

  #failed(path: string, err: unknown, what: string): void {
    this.refused++;
    this.#events.emit('brokerError', { op: 'publish' });
    // Expected while degraded (one line per broadcast would flood the log); a surprise otherwise.
    if (this.#broker.state() === 'ok') this.#log.warn({ err: String(err), path }, `broker unavailable: ${what}`);
    else this.#log.debug({ err: String(err), path }, `broker down: ${what}`);
  }

  #header(n: number, target: Target): EnvelopeHeader {
    const header: EnvelopeHeader = { o: this.#instanceId, n, ...(target.except ? { x: target.except } : {}), ...(target.to ? { t: target.to } : {}) };
    // The correlation id travels with the message, so the delivering instances log the same id.
    const corr = correlationId();
    if (corr) header.c = corr;
    return header;
  }

  #deliverLocally(path: string, n: number, frame: Buffer, target: Target): void {
    this.localOnly++;
    this.#recipients.deliver(path, frame, target);
    this.#pending.set(n, 'local');
    if (this.#pending.size > MAX_REMEMBERED) {
      const oldest = this.#pending.keys().next().value;
      if (oldest !== undefined) this.#pending.delete(oldest);
    }
  }
}
