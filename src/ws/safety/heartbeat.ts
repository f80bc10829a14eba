/**
 * Server pings: a peer that has not answered the previous ping when the next one is due is
 * terminated, which runs the connection's close path (onDisconnect, presence) like any close.
 *
 * A round is spread over the interval: every socket belongs to one of up to 100 slices, and each
 * tick pings one slice. Pinging every socket in one callback (a write syscall each, ~45 µs) stalled
 * the event loop for ~1 s at 20,000 sockets, once per interval (docs/performance.md, issue 17).
 * A socket keeps its slice, so it is pinged exactly once per round and always gets a whole round
 * to answer.
 */
import { WebSocket, type WebSocketServer } from 'ws';

/** At most this many slices per round... */
const MAX_SLICES = 100;
/** ...and no tick shorter than this (a short interval gets fewer slices). */
const MIN_TICK_MS = 10;

/** Starts pinging every socket of `wss` each `intervalMs`, a slice at a time; returns the stop function. */
export function startHeartbeat(wss: WebSocketServer, intervalMs: number): () => void {
  if (intervalMs <= 0) return () => {};
  const count = Math.max(1, Math.min(MAX_SLICES, Math.floor(intervalMs / MIN_TICK_MS)));
  // Rounded up: a round never gives a peer less time than the configured interval.
  const tickMs = Math.ceil(intervalMs / count);
  const slices = Array.from({ length: count }, () => new Set<WebSocket>());
  const answered = new WeakSet<WebSocket>();
  const markAlive = function markAlive(this: WebSocket) {
    answered.add(this);
  };
  wss.on('connection', (socket: WebSocket) => {
    answered.add(socket);
    socket.on('pong', markAlive);
    smallest(slices).add(socket);
  });
  let next = 0;
  const timer = setInterval(function heartbeat() {
    const slice = slices[next]!;
    next = (next + 1) % count;
    for (const socket of slice) {
      // Closed sockets leave their slice here rather than through a close listener per socket.
      if (socket.readyState === WebSocket.CLOSED) {
        slice.delete(socket);
        continue;
      }
      if (socket.readyState !== WebSocket.OPEN) continue;
      if (!answered.has(socket)) {
        socket.terminate();
        continue;
      }
      answered.delete(socket);
      socket.ping();
    }
  }, tickMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** The slice with the fewest sockets: slices stay even whatever order sockets come and go in. */
function smallest(slices: Set<WebSocket>[]): Set<WebSocket> {
  let best = slices[0]!;
  for (const slice of slices) if (slice.size < best.size) best = slice;
  return best;
}
