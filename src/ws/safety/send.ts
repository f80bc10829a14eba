/**
 * The one way a frame reaches a socket: text, and never onto a slow consumer's growing queue.
 */
import type { WebSocket } from 'ws';
import { CloseCode } from '../../protocol/codes.ts';
import { writeFrame, type PreFramed } from '../wire/framing.ts';

/**
 * How many close timeouts a slow consumer's closing handshake may take. Its close frame waits
 * behind what is queued for it (up to `maxBufferedBytes` here, and the kernel's buffers, several
 * MB): within one close timeout a client that is reading, only slowly, would be cut before it
 * reads the 1013, and both sides would see 1006.
 */
export const SLOW_CLOSE_TIMEOUTS = 5;

/**
 * Sends a frame framed once for all its sockets (`preFrame`), as text. A socket with more than
 * `maxBufferedBytes` still queued is a client that stopped reading: it is closed with 1013 (it
 * reconnects and catches up) instead of letting its queue grow, gets no more frames, and `onSlow`
 * is called (metrics); the others are not held up. Returns whether the frame was queued.
 */
export function sendFrame(socket: WebSocket, frame: PreFramed, maxBufferedBytes: number, onSlow?: () => void): boolean {
  if (socket.readyState !== 1) return false;
  if (socket.bufferedAmount > maxBufferedBytes) {
    closeSlowConsumer(socket);
    onSlow?.();
    return false;
  }
  return writeFrame(socket, frame);
}

function closeSlowConsumer(socket: WebSocket): void {
  // ws keeps the server's closeTimeout on each socket and arms the close timer from it in
  // close() (an internal, like those frame.ts relies on): this socket's is made longer first.
  const internals = socket as unknown as { _closeTimeout?: number };
  if (typeof internals._closeTimeout === 'number') internals._closeTimeout *= SLOW_CLOSE_TIMEOUTS;
  socket.close(CloseCode.TRY_AGAIN_LATER, 'slow consumer: too much unread data');
}
