/**
 * Messages as JSON text: a client's frame parsed and checked (`{ type, data?, id? }`), a server's
 * frame serialized once (`{ type, data, seq?, id? }`). The shapes are in `protocol/frames.ts`.
 */
import { z } from 'zod';
import { ErrorCode, type ErrorCodeValue } from '../../protocol/codes.ts';
import { nestsDeeperThan } from './json-depth.ts';

const ClientMessage = z.object({
  type: z.string().min(1).max(64),
  data: z.unknown().optional(),
  id: z.string().min(1).max(64).optional(),
});

/** A message from a client, after envelope validation. */
export interface ClientMessage {
  type: string;
  data: unknown;
  id?: string;
}

export type ParseResult =
  | { ok: true; message: ClientMessage }
  | { ok: false; code: ErrorCodeValue; error: string; id?: string };

/**
 * Parses one text frame. Never throws: a bad frame gives `{ ok: false, code, error }`. JSON
 * nested deeper than `maxDepth` is refused before it is parsed.
 */
export function parseClientFrame(text: string, maxDepth = Infinity): ParseResult {
  if (nestsDeeperThan(text, maxDepth)) {
    return { ok: false, code: ErrorCode.BAD_MESSAGE, error: `JSON nested deeper than ${maxDepth} levels` };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, code: ErrorCode.BAD_JSON, error: 'frame is not valid JSON' };
  }
  const parsed = ClientMessage.safeParse(raw);
  if (!parsed.success) {
    const id = typeof raw === 'object' && raw !== null && typeof (raw as { id?: unknown }).id === 'string'
      ? ((raw as { id: string }).id).slice(0, 64)
      : undefined;
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length ? ` (${issue.path.join('.')}: ${issue.message})` : '';
    return {
      ok: false,
      code: ErrorCode.BAD_MESSAGE,
      error: `expected an object { type: string, data?, id?: string }${where}`,
      ...(id !== undefined ? { id } : {}),
    };
  }
  const { type, data, id } = parsed.data;
  return { ok: true, message: id === undefined ? { type, data } : { type, data, id } };
}

/** Serializes a server frame once; the Buffer is what every recipient's socket is handed. */
export function encodeFrame(type: string, data: unknown, extra?: { id?: string | undefined; seq?: number }): Buffer {
  const frame: Record<string, unknown> = { type, data: data === undefined ? null : data };
  if (extra?.seq !== undefined) frame.seq = extra.seq;
  if (extra?.id !== undefined) frame.id = extra.id;
  return Buffer.from(JSON.stringify(frame));
}

/** An `error` frame. */
export function encodeError(code: string, error: string, id?: string): Buffer {
  return encodeFrame('error', { code, error }, { id });
}
