/**
 * The one way a frame reaches a socket: text, and never onto a slow consumer's growing queue.
 */
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { CloseCode } from '../codes.ts';
import { writeFrame, type PreFramed } from '../frame.ts';

/** Sockets found slow: they get nothing more, and are closed once what they were sent is flushed. */
const slow = new WeakSet<WebSocket>();

/**
 * Sends a frame framed once for all its sockets (`preFrame`), as text. A socket with more than
 * `maxBufferedBytes` still queued is a client that stopped reading: it gets no more frames,
 * `onSlow` is called (metrics) and it is closed with 1013 (it reconnects and catches up) instead
 * of letting its queue grow; the others are not held up. Returns whether the frame was queued.
 */
export function sendFrame(socket: WebSocket, frame: PreFramed, maxBufferedBytes: number, onSlow?: () => void): boolean {
  if (socket.readyState !== 1) return false;
  const queued = socket.bufferedAmount;
  if (queued > 0 && (queued > maxBufferedBytes || slow.has(socket))) {
    if (!slow.has(socket)) {
      slow.add(socket);
      closeWhenFlushed(socket);
      onSlow?.();
    }
    return false;
  }
  return writeFrame(socket, frame);
}

/**
 * Closes a slow consumer with 1013 once its queue is flushed. A close frame cannot overtake the
 * bytes queued before it: sent at once, it would wait behind them and the close timeout would cut
 * the socket first, so that neither side saw the 1013. So the close waits while the queue drains,
 * and the socket is terminated only when a whole close timeout passes without it shrinking.
 */
function closeWhenFlushed(socket: WebSocket): void {
  // ws keeps the server's closeTimeout on each socket (an internal, like those frame.ts uses).
  const windowMs = (socket as unknown as { _closeTimeout?: number })._closeTimeout ?? 5000;
  const raw = (socket as unknown as { _socket?: Duplex })._socket;
  let last = socket.bufferedAmount;
  const close = () => {
    clearInterval(timer);
    raw?.off('drain', close);
    if (socket.readyState === 1) socket.close(CloseCode.TRY_AGAIN_LATER, 'slow consumer: too much unread data');
  };
  const timer = setInterval(() => {
    const queued = socket.bufferedAmount;
    if (socket.readyState !== 1 || queued === 0) return close();
    if (queued >= last) {
      clearInterval(timer);
      raw?.off('drain', close);
      socket.terminate();
      return;
    }
    last = queued;
  }, windowMs);
  timer.unref();
  raw?.on('drain', close);
}
