/**
 * Messages as JSON text: a client's frame parsed and checked (`{ type, data?, id?, path? }`), a
 * server's frame serialized once (`{ type, data, seq?, id? }`, `path` appended on a multiplexed socket). The shapes are in `protocol/frames.ts`.
 */
import { z } from 'zod';
import { ErrorCode, type ErrorCodeValue } from '../../protocol/codes.ts';
import { nestsDeeperThan } from './json-depth.ts';

/** Longest namespace path a frame may name (the `path` of a multiplexed socket's frames). */
export const MAX_PATH_LENGTH = 1024;

const ClientMessage = z.object({
  type: z.string().min(1).max(64),
  data: z.unknown().optional(),
  id: z.string().min(1).max(64).optional(),
});

/** A frame of a multiplexed socket: the subscription it is for, if it is not the socket's own. */
const TaggedClientMessage = ClientMessage.extend({ path: z.string().max(MAX_PATH_LENGTH).optional() });

/** A message from a client, after envelope validation. */
export interface ClientMessage {
  type: string;
  data: unknown;
  id?: string;
}

export type ParseResult =
  | { ok: true; message: ClientMessage; path?: string }
  | { ok: false; code: ErrorCodeValue; error: string; id?: string; path?: string };

/**
 * Parses one text frame (of a multiplexed socket: with its `path`). Never throws: a bad frame
 * gives `{ ok: false, code, error }`. JSON nested deeper than `maxDepth` is refused before it is parsed.
 */
export function parseClientFrame(text: string, maxDepth = Infinity, multiplexed = false): ParseResult {
  if (nestsDeeperThan(text, maxDepth)) {
    return { ok: false, code: ErrorCode.BAD_MESSAGE, error: `JSON nested deeper than ${maxDepth} levels` };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, code: ErrorCode.BAD_JSON, error: 'frame is not valid JSON' };
  }
  const parsed = (multiplexed ? TaggedClientMessage : ClientMessage).safeParse(raw);
  if (!parsed.success) {
    const id = typeof raw === 'object' && raw !== null && typeof (raw as { id?: unknown }).id === 'string'
      ? ((raw as { id: string }).id).slice(0, 64)
      : undefined;
    // On a multiplexed socket the error goes back on the frame's path, where its request waits.
    const path = multiplexed && typeof raw === 'object' && raw !== null ? (raw as { path?: unknown }).path : undefined;
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length ? ` (${issue.path.join('.')}: ${issue.message})` : '';
    return {
      ok: false,
      code: ErrorCode.BAD_MESSAGE,
      error: `expected an object { type: string, data?, id?: string${multiplexed ? ', path?: string' : ''} }${where}`,
      ...(id !== undefined ? { id } : {}),
      ...(typeof path === 'string' && path.length <= MAX_PATH_LENGTH ? { path } : {}),
    };
  }
  const { type, data, id, path } = parsed.data as z.infer<typeof TaggedClientMessage>;
  const message = id === undefined ? { type, data } : { type, data, id };
  return path === undefined ? { ok: true, message } : { ok: true, message, path };
}

/** Serializes a server frame once; the Buffer is what every recipient's socket is handed. */
export function encodeFrame(type: string, data: unknown, extra?: { id?: string | undefined; seq?: number }): Buffer {
  const frame: Record<string, unknown> = { type, data: data === undefined ? null : data };
  if (extra?.seq !== undefined) frame.seq = extra.seq;
  if (extra?.id !== undefined) frame.id = extra.id;
  return Buffer.from(JSON.stringify(frame));
}

/** What a frame of a multiplexed socket's subscription ends with: `,"path":"<path>"}`. */
export function pathTail(path: string): Buffer {
  return Buffer.from(`,"path":${JSON.stringify(path)}}`);
}

/**
 * A serialized frame (a JSON object) with its subscription's path appended as its last member:
 * the bytes are not parsed or serialized again.
 */
export function withPath(payload: Buffer, tail: Buffer): Buffer {
  return Buffer.concat([payload.subarray(0, payload.length - 1), tail]);
}

/** An `error` frame. */
export function encodeError(code: string, error: string, id?: string): Buffer {
  return encodeFrame('error', { code, error }, { id });
}
