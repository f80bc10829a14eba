/**
 * Server pings: a peer that has not answered the previous ping when the next one is due is
 * terminated, which runs the connection's close path (onDisconnect, presence) like any close.
 */
import type { WebSocket, WebSocketServer } from 'ws';

/** Starts pinging every socket of `wss` each `intervalMs`; returns the stop function. */
export function startHeartbeat(wss: WebSocketServer, intervalMs: number): () => void {
  if (intervalMs <= 0) return () => {};
  const answered = new WeakSet<WebSocket>();
  const markAlive = function markAlive(this: WebSocket) {
    answered.add(this);
  };
  wss.on('connection', (socket: WebSocket) => {
    answered.add(socket);
    socket.on('pong', markAlive);
  });
  const timer = setInterval(function heartbeat() {
    for (const socket of wss.clients) {
      if (!answered.has(socket)) {
        socket.terminate();
        continue;
      }
      answered.delete(socket);
      socket.ping();
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
