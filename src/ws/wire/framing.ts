/**
 * Broadcast framing: a WebSocket text frame is built once per broadcast and the same bytes are
 * written to every socket of the namespace, instead of `ws` framing the payload again for each
 * client (an options object, a header buffer and a corked two-part write per client).
 * Socket.IO does the same through `ws`'s `Sender.frame` and `Sender#sendFrame`.
 */
import * as ws from 'ws';
import type { Duplex } from 'node:stream';
import { WebSocket } from 'ws';

/** The parts of `ws` internals this relies on (ws 8; not in @types/ws). */
interface SenderInternals {
  sendFrame(list: Buffer[], cb?: (err?: Error) => void): void;
}
interface SenderStatic {
  frame(data: Buffer, options: { fin: boolean; rsv1: boolean; opcode: number; mask: boolean; readOnly: boolean }): Buffer[];
}

const Sender = (ws as unknown as { Sender: SenderStatic }).Sender;
const OPCODE_TEXT = 0x01;

/** A ready-to-write server frame: one unmasked, final text frame of `payload`, as one buffer. */
export interface PreFramed {
  /** The JSON payload (for sockets that cannot take the frame as is). */
  payload: Buffer;
  /** Header and payload in one buffer, written as is to each socket. */
  wire: Buffer;
}

/** Frames `payload` once. Server frames are not masked, so the bytes are the same for every client. */
export function preFrame(payload: Buffer): PreFramed {
  const parts = Sender.frame(payload, { fin: true, rsv1: false, opcode: OPCODE_TEXT, mask: false, readOnly: true });
  return { payload, wire: parts.length === 1 ? parts[0]! : Buffer.concat(parts) };
}

/**
 * Writes a pre-framed message to an open socket; returns whether the socket was open.
 * A socket with a negotiated extension (permessage-deflate, off by default) must have its frames
 * compressed by `ws` and ordered behind its queue, so it goes through `send`.
 */
export function writeFrame(socket: WebSocket, frame: PreFramed): boolean {
  if (socket.readyState !== WebSocket.OPEN) return false;
  if (socket.extensions === '') {
    const internals = socket as unknown as { _socket: Duplex; _sender: SenderInternals };
    holdUntilFlush(internals._socket);
    internals._sender.sendFrame([frame.wire]);
  } else {
    socket.send(frame.payload, { binary: false });
  }
  return true;
}

/**
 * Sockets written to since the last flush. A socket is corked at its first frame and uncorked
 * once the current I/O phase is over, so the broadcasts of several messages read in one phase
 * leave in one `writev` per socket instead of one syscall per frame (the syscall is most of the
 * cost of a delivery). Order is kept: `ws`'s own frames (pings, close) queue behind the cork.
 */
const held = new Set<Duplex>();
let flushScheduled = false;

function holdUntilFlush(raw: Duplex): void {
  if (held.has(raw)) return;
  raw.cork();
  held.add(raw);
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flushHeld);
  }
}

function flushHeld(): void {
  flushScheduled = false;
  for (const raw of held) raw.uncork();
  held.clear();
}

/** Close reasons are limited to 123 bytes by RFC 6455; longer ones are cut on a character. */
export function closeReason(text: string): string {
  if (Buffer.byteLength(text) <= 123) return text;
  let out = '';
  for (const ch of text) {
    if (Buffer.byteLength(out + ch) > 120) break;
    out += ch;
  }
  return `${out}...`;
}
