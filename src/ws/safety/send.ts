/**
 * The one way a frame reaches a socket: text, and never onto a slow consumer's growing queue.
 */
import type { WebSocket } from 'ws';
import { CloseCode } from '../codes.ts';
import { writeFrame, type PreFramed } from '../frame.ts';

/**
 * Sends a frame framed once for all its sockets (`preFrame`), as text. A socket with more than
 * `maxBufferedBytes` still queued is a client that stopped reading: it is closed with 1013 (it reconnects and catches up) instead
 * of letting its queue grow, and `onSlow` is called (metrics); the others are not held up.
 * Returns whether the frame was queued.
 */
export function sendFrame(socket: WebSocket, frame: PreFramed, maxBufferedBytes: number, onSlow?: () => void): boolean {
  if (socket.readyState !== 1) return false;
  if (socket.bufferedAmount > maxBufferedBytes) {
    socket.close(CloseCode.TRY_AGAIN_LATER, 'slow consumer: too much unread data');
    onSlow?.();
    return false;
  }
  return writeFrame(socket, frame);
}
