/**
 * Pings from peers, answered by us rather than by `ws` (`autoPong: false`): a peer that sends
 * pings without reading the pongs would otherwise make them pile up in its send queue, and
 * `ws`'s own bound ends it without a close frame. Past `maxPendingPongs` pongs not yet written,
 * it is closed with 1008 and a reason.
 */
import type { WebSocket, WebSocketServer } from 'ws';
import { CloseCode } from '../codes.ts';

/** Answers the pings of every socket of `wss` (which must be built with `autoPong: false`). */
export function answerPings(wss: WebSocketServer, maxPendingPongs: number): void {
  const pending = new WeakMap<WebSocket, number>();
  const answer = function answerPing(this: WebSocket, data: Buffer) {
    if (this.readyState !== 1) return;
    const count = pending.get(this) ?? 0;
    if (count >= maxPendingPongs) {
      this.close(CloseCode.POLICY_VIOLATION, 'too many pings');
      return;
    }
    pending.set(this, count + 1);
    const socket = this;
    this.pong(data, false, () => {
      const left = (pending.get(socket) ?? 1) - 1;
      if (left <= 0) pending.delete(socket);
      else pending.set(socket, left);
    });
  };
  wss.on('connection', (socket: WebSocket) => socket.on('ping', answer));
}
