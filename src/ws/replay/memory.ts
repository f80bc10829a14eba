import { newEpoch, sequenceFrame } from './frame.ts';
import type { PublishFn, ReplayHead, ReplayPolicy, ReplayRead, ReplayStore } from './types.ts';

interface Buffered {
  epoch: string;
  seq: number;
  /** Oldest first; `seq` of entry i is `seq - entries.length + 1 + i`. */
  entries: Array<{ at: number; envelope: Buffer }>;
}

/**
 * Replay buffers in this process: a ring per namespace path, in a map that outlives the
 * namespaces (a room emptied and dropped can still be replayed) and is bounded by `maxPaths`
 * (least recently written first out; a path forgotten starts a new epoch). Several app instances
 * in one process may share one store, as they share one `MemoryBus`.
 */
export class MemoryReplayStore implements ReplayStore {
  readonly kind = 'memory';
  // A Map iterates in insertion order: re-inserting on write keeps the least recently used first.
  readonly #paths = new Map<string, Buffered>();

  constructor(readonly maxPaths = 10_000) {
    if (!(maxPaths >= 1)) throw new RangeError('maxPaths must be 1 or more');
  }

  append(path: string, _channel: string, header: string, body: Buffer, policy: ReplayPolicy, publish: PublishFn): Promise<ReplayHead> {
    const buf = this.#get(path, policy);
    const head = { seq: buf.seq + 1, epoch: buf.epoch };
    const envelope = Buffer.concat([Buffer.from(`${header}\n`), sequenceFrame(body, head)]);
    buf.seq = head.seq;
    buf.entries.push({ at: Date.now(), envelope });
    if (buf.entries.length > policy.size) buf.entries.splice(0, buf.entries.length - policy.size);
    this.#paths.delete(path);
    this.#paths.set(path, buf);
    if (this.#paths.size > this.maxPaths) this.#paths.delete(this.#paths.keys().next().value!);
    // Published in the same tick as the seq was taken: nothing can come between.
    return publish(envelope).then(() => head);
  }

  async head(path: string, policy: ReplayPolicy): Promise<ReplayHead> {
    const buf = this.#get(path, policy);
    return { seq: buf.seq, epoch: buf.epoch };
  }

  async since(path: string, since: number, epoch: string, policy: ReplayPolicy): Promise<ReplayRead> {
    const buf = this.#get(path, policy);
    const head = { seq: buf.seq, epoch: buf.epoch };
    const wanted = buf.seq - since;
    if (epoch !== buf.epoch || wanted < 0 || wanted > buf.entries.length) return { ok: false, head };
    const entries = buf.entries.slice(buf.entries.length - wanted);
    if (entries.length && entries[0]!.at < Date.now() - policy.maxAgeMs) return { ok: false, head };
    return { ok: true, head, envelopes: entries.map((e) => e.envelope) };
  }

  async close(): Promise<void> {}

  #get(path: string, policy: ReplayPolicy): Buffered {
    let buf = this.#paths.get(path);
    // An idle buffer whose every entry is past the age limit is as good as gone: keep its
    // sequence (clients still counting on it see no hole), drop the entries.
    if (buf && buf.entries.length && buf.entries.at(-1)!.at < Date.now() - policy.maxAgeMs) buf.entries = [];
    if (!buf) this.#paths.set(path, (buf = { epoch: newEpoch(), seq: 0, entries: [] }));
    return buf;
  }
}
