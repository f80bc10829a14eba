/**
 * Broadcast delivery across instances. Normally every instance, the origin included, delivers a
 * message when it comes back from the bus, so all instances deliver a namespace's messages in the
 * one order the broker gave them.
 *
 * When the bus cannot bring it back (broker down, or this namespace's channel not subscribed), the
 * origin delivers to its own clients at once and still tries to publish, so other instances get it
 * if their side is up. A publish that fails is delivered locally unless it already came back.
 * Each message carries the origin's sequence number, so a copy that returns after the origin has
 * delivered it itself is dropped: local clients get every message exactly once.
 */
import { correlationId, withCorrelation } from '../correlation.ts';
import type { Logger } from '../log.ts';
import { unwrapEnvelope, wrapEnvelope, type EnvelopeHeader } from './envelope.ts';
import type { RealtimeEvents } from './events.ts';
import type { PubSub } from './pubsub/types.ts';
import { sequenceFrame } from './replay/frame.ts';
import type { ReplayPolicy, ReplayStore } from './replay/types.ts';

export interface FanoutOptions {
  instanceId: string;
  pubsub: PubSub;
  channelOf(path: string): string;
  /** Whether the namespace exists on this instance (has local clients to deliver to). */
  isHosted(path: string): boolean;
  /** Whether this instance receives the channel of `path` now. */
  isSubscribed(path: string): boolean;
  /** Hands a frame to the local clients of `path` (except one, or only one). */
  deliver(path: string, frame: Buffer, except?: string, to?: string): void;
  /** A control message for `path` came from the bus. */
  control(path: string, command: 'remove'): void;
  log: Logger;
  /** Bus traffic (`published`, `received`, `pubsubError`) for metrics. */
  events: RealtimeEvents;
}

/** Delivery target of one message. */
export interface Target {
  except?: string;
  to?: string;
}

/** Sent and not settled yet; came back before its publish settled; delivered locally by the origin. */
type Pending = 'sent' | 'received' | 'local';

/** Locally delivered messages remembered in case their copy comes back; older ones are forgotten. */
const MAX_REMEMBERED = 10_000;

export class Fanout {
  readonly #o: FanoutOptions;
  readonly #pending = new Map<number, Pending>();
  #seq = 0;
  /** Messages delivered locally only because the bus could not carry them (stats). */
  localOnly = 0;
  /** Broadcasts of replay namespaces dropped because no seq could be given (replay store down). */
  unsequenced = 0;

  constructor(options: FanoutOptions) {
    this.#o = options;
  }

  /** Publishes a frame to a namespace on every instance. Never rejects (failures are logged). */
  publish(path: string, frame: Buffer, target: Target): Promise<void> {
    const { pubsub, instanceId, channelOf, isHosted, isSubscribed, log, events } = this.#o;
    const n = ++this.#seq;
    const header = this.#header(n, target);
    if (!target.to) log.debug({ path, bytes: frame.length }, 'broadcast published');
    if (!isHosted(path)) {
      // Nobody here to deliver to (a REST broadcast into a namespace hosted elsewhere).
    } else if (pubsub.state() === 'ok' && isSubscribed(path)) this.#pending.set(n, 'sent');
    else this.#deliverLocally(path, n, frame, target);
    const payload = wrapEnvelope(header, frame);
    events.emit('published', { bytes: payload.length });
    return pubsub.publish(channelOf(path), payload).then(
      () => {
        if (this.#pending.get(n) !== 'local') this.#pending.delete(n);
      },
      (err: unknown) => {
        const state = this.#pending.get(n);
        if (state === 'sent') this.#deliverLocally(path, n, frame, target);
        else if (state === 'received') this.#pending.delete(n);
        events.emit('pubsubError', { op: 'publish' });
        // Expected while degraded (one line per broadcast would flood the log); a surprise otherwise.
        if (state === 'local') log.debug({ err: String(err), path }, 'publish failed while degraded');
        else log.warn({ err: String(err), path }, 'publish failed: delivered to local clients only');
      },
    );
  }

  /**
   * Publishes a control message to the instances subscribed to `path`'s channel (those hosting it).
   * Rejects when the bus cannot carry it: unlike a broadcast, the caller must know it was not sent.
   */
  publishControl(path: string, command: 'remove'): Promise<void> {
    const { pubsub, instanceId, channelOf, events } = this.#o;
    const payload = wrapEnvelope({ o: instanceId, k: command }, Buffer.alloc(0));
    events.emit('published', { bytes: payload.length });
    return pubsub.publish(channelOf(path), payload).catch((err: unknown) => {
      events.emit('pubsubError', { op: 'publish' });
      throw err;
    });
  }

  /**
   * Publishes a broadcast of a replay namespace: the store gives it the next seq, keeps it and
   * publishes it in one step. Resolves false (nothing delivered anywhere, logged) when that
   * cannot be done: a broadcast without its seq would be a hole nobody could replay, so none
   * goes out. The origin delivers it itself, seq included, only when the bus will not bring it
   * back (this channel not subscribed). Never rejects.
   */
  async publishSequenced(path: string, body: Buffer, target: Target, store: ReplayStore, policy: ReplayPolicy): Promise<boolean> {
    const { pubsub, channelOf, isHosted, isSubscribed, log, events } = this.#o;
    const n = ++this.#seq;
    const channel = channelOf(path);
    const header = JSON.stringify(this.#header(n, target));
    log.debug({ path, bytes: body.length }, 'broadcast published');
    const hosted = isHosted(path);
    if (hosted) this.#pending.set(n, 'sent');
    let head;
    try {
      head = await store.append(path, channel, header, body, policy, (payload) => pubsub.publish(channel, payload));
    } catch (err) {
      this.#pending.delete(n);
      this.unsequenced++;
      events.emit('pubsubError', { op: 'publish' });
      log.warn({ err: String(err), path }, 'replay store unavailable: broadcast dropped (it would have had no seq)');
      return false;
    }
    // Header, newline and body, plus the seq and epoch put in front of the body.
    events.emit('published', { bytes: header.length + body.length + 40 });
    const state = this.#pending.get(n);
    this.#pending.delete(n);
    if (state === 'sent' && !(pubsub.state() === 'ok' && isSubscribed(path))) {
      this.#deliverLocally(path, n, sequenceFrame(body, head), target);
    }
    return true;
  }

  /** A payload came from the bus on the channel of `path`. */
  receive(path: string, payload: Buffer): void {
    this.#o.events.emit('received', { bytes: payload.length });
    const envelope = unwrapEnvelope(payload);
    if (!envelope) {
      this.#o.events.emit('pubsubError', { op: 'malformed' });
      this.#o.log.warn({ path }, 'dropped a malformed bus message');
      return;
    }
    const { header, frame } = envelope;
    if (header.k !== undefined) {
      // The origin acted before publishing; acting again could remove a namespace created since.
      if (header.o === this.#o.instanceId) return;
      if (header.k === 'remove') this.#o.control(path, header.k);
      else this.#o.log.warn({ path, command: header.k }, 'dropped an unknown bus control message');
      return;
    }
    if (header.o === this.#o.instanceId && typeof header.n === 'number') {
      const state = this.#pending.get(header.n);
      if (state === 'local') {
        this.#pending.delete(header.n);
        return;
      }
      if (state === 'sent') this.#pending.set(header.n, 'received');
    }
    const deliver = () => this.#o.deliver(path, frame, header.x, header.t);
    if (header.c) withCorrelation(header.c, deliver);
    else deliver();
  }

  #header(n: number, target: Target): EnvelopeHeader {
    const header: EnvelopeHeader = { o: this.#o.instanceId, n, ...(target.except ? { x: target.except } : {}), ...(target.to ? { t: target.to } : {}) };
    // The correlation id travels with the message, so the delivering instances log the same id.
    const corr = correlationId();
    if (corr) header.c = corr;
    return header;
  }

  #deliverLocally(path: string, n: number, frame: Buffer, target: Target): void {
    this.localOnly++;
    this.#o.deliver(path, frame, target.except, target.to);
    this.#pending.set(n, 'local');
    if (this.#pending.size > MAX_REMEMBERED) {
      const oldest = this.#pending.keys().next().value;
      if (oldest !== undefined) this.#pending.delete(oldest);
    }
  }
}
