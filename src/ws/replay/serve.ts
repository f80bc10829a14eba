/**
 * The server's side of replay on one connection: the seq the `welcome` reports, and the answer
 * to `sync`. Live frames that arrive meanwhile are held back by the namespace and sent after,
 * without those the replay already carried: the client gets every seq once, in order.
 */
import { z } from 'zod';
import type { Logger } from '../observe/logger.ts';
import { ErrorCode } from '../../protocol/codes.ts';
import { unwrapEnvelope } from '../broker/envelope.ts';
import type { Broker } from '../broker/types.ts';
import type { LiveNamespace } from '../live/live-namespace.ts';
import { encodeError, encodeFrame } from '../wire/messages.ts';
import { headOf, markReplayed, skipFrame } from '../broker/sequence.ts';
import type { ReplayHead } from '../../protocol/frames.ts';

const SyncData = z.object({
  since: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  // '' : the client read an empty head (the namespace had not broadcast yet).
  epoch: z.string().max(64),
});

/**
 * The namespace's head for `welcome`; null when the log cannot be read (the client then resyncs).
 * `log` is called only for a line to write (a connection builds its logger on demand).
 */
export async function welcomeHead(path: string, broker: Broker, log: () => Logger): Promise<ReplayHead | null> {
  try {
    return await broker.head(path);
  } catch (err) {
    log().debug({ err: String(err), path }, 'broker unavailable: welcome without seq');
    return null;
  }
}

/**
 * Answers `{ type: 'sync', data: { since, epoch } }`: every buffered frame after `since`, in
 * order, each flagged `"replayed":true`, then `synced { seq, epoch }`; or, when the buffer does
 * not reach back to `since` (or the epoch differs, or the store is unreachable), `gap` alone.
 * Never a part of what is missing: all or nothing. Returns which it was (undefined for a refused sync).
 */
export async function serveSync(
  broker: Broker,
  ns: LiveNamespace,
  clientId: string,
  data: unknown,
  id: string | undefined,
  send: (frame: Buffer) => void,
  log: () => Logger,
): Promise<'served' | 'gap' | undefined> {
  const policy = ns.log;
  if (!policy) {
    send(encodeError(ErrorCode.UNKNOWN_TYPE, 'this namespace does not replay: "sync" is not available', id));
    return undefined;
  }
  const parsed = SyncData.safeParse(data);
  if (!parsed.success) {
    send(encodeError(ErrorCode.INVALID_DATA, 'invalid data for "sync": expected { since: integer >= 0, epoch: string }', id));
    return undefined;
  }
  const { since, epoch } = parsed.data;
  ns.pause(clientId);
  let frames: Buffer[] | null = null;
  let head: ReplayHead | null = null;
  try {
    const read = await broker.since(ns.path, since, epoch, policy);
    head = read.head;
    if (read.ok) frames = replayFrames(read.entries.map((e) => e.envelope), since, clientId);
  } catch (err) {
    log().debug({ err: String(err), path: ns.path }, 'broker unavailable: sync answered with gap');
  }
  // Everything from here on is synchronous: nothing can come between the replay and the held frames.
  const held = ns.resume(clientId, head);
  if (frames) {
    for (const frame of frames) send(frame);
    send(encodeFrame('synced', head, { id }));
  } else {
    send(encodeFrame('gap', head ?? { seq: null, epoch: null }, { id }));
  }
  for (const frame of held) send(frame);
  return frames ? 'served' : 'gap';
}

/** The stored envelopes as this client gets them; null unless each is readable and they follow `since` without a hole. */
function replayFrames(envelopes: Buffer[], since: number, clientId: string): Buffer[] | null {
  const out: Buffer[] = [];
  for (const envelope of envelopes) {
    const unwrapped = unwrapEnvelope(envelope);
    const head = unwrapped && headOf(unwrapped.frame);
    if (!unwrapped || !head || head.seq !== since + out.length + 1) return null;
    out.push(unwrapped.header.x === clientId ? skipFrame(head, true) : markReplayed(unwrapped.frame));
  }
  return out;
}
