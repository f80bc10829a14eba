/**
 * Byte-level helpers for sequenced frames. A sequenced frame always begins
 * `{"seq":N,"epoch":"E",` followed by the rest of the body the origin serialized once, so the
 * seq is put in (and read back) without parsing or re-serializing the message.
 */
import type { ReplayHead } from '../../protocol/frames.ts';

const HEAD = /^\{"seq":(\d+),"epoch":"([A-Za-z0-9_-]*)"/;
const OPEN_BRACE = 0x7b;

/** `{"type":…}` becomes `{"seq":N,"epoch":"E","type":…}`. */
export function sequenceFrame(body: Buffer, head: ReplayHead): Buffer {
  if (body[0] !== OPEN_BRACE) throw new TypeError('a frame body must be a JSON object');
  return Buffer.concat([Buffer.from(`{"seq":${head.seq},"epoch":"${head.epoch}",`), body.subarray(1)]);
}

/** The seq and epoch of a sequenced frame; undefined for any other frame. */
export function headOf(frame: Buffer): ReplayHead | undefined {
  if (frame[1] !== 0x22 || frame[2] !== 0x73) return undefined; // `{"s`: cheap reject first
  const m = HEAD.exec(frame.subarray(0, 120).toString('latin1'));
  return m ? { seq: Number(m[1]), epoch: m[2]! } : undefined;
}

/** A stored frame as sent in answer to `sync`: `{"replayed":true,"seq":…}`. */
export function markReplayed(frame: Buffer): Buffer {
  return Buffer.concat([Buffer.from('{"replayed":true,'), frame.subarray(1)]);
}

/**
 * What a client excluded from a sequenced broadcast (`except`) gets instead: its seq, so that
 * it sees no hole. The client library consumes it; apps never see it.
 */
export function skipFrame(head: ReplayHead, replayed = false): Buffer {
  return Buffer.from(`{${replayed ? '"replayed":true,' : ''}"seq":${head.seq},"epoch":"${head.epoch}","type":"skip","data":null}`);
}

/** Epochs are short random ids of URL-safe characters (they go into frames unescaped). */
export function newEpoch(): string {
  const bytes = new Uint8Array(9);
  crypto.getRandomValues(bytes);
  return Buffer.from(bytes).toString('base64url');
}
