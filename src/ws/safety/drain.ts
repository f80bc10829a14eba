/**
 * Graceful shutdown of sockets: close with 1012 (service restart) in batches spread over a
 * window, so that thousands of clients do not all reconnect to the other instances in the same
 * second; whatever has not closed by the deadline is terminated.
 */
import type { WebSocket } from 'ws';
import { CloseCode } from '../../protocol/codes.ts';

export interface DrainOptions {
  /** Window over which the closes are spread, in ms. Default 5000. */
  spreadMs?: number;
  /** Time after which sockets still open are terminated, in ms. Default 10000. */
  timeoutMs?: number;
}

/** Pause between two batches; the batch size follows from the window. */
const BATCH_INTERVAL_MS = 100;

/** Closes `sockets` as described above; resolves once every one of them has closed. */
export async function drainSockets(sockets: Iterable<WebSocket>, options: DrainOptions = {}): Promise<void> {
  const { spreadMs = 5000, timeoutMs = 10_000 } = options;
  const all = [...sockets];
  if (all.length === 0) return;
  const closed = Promise.all(
    all.map((socket) =>
      socket.readyState === 3 ? undefined : new Promise<void>((resolve) => socket.once('close', () => resolve())),
    ),
  );
  const batches = Math.max(1, Math.floor(spreadMs / BATCH_INTERVAL_MS));
  const batchSize = Math.ceil(all.length / batches);
  const deadline = setTimeout(() => {
    for (const socket of all) socket.terminate();
  }, timeoutMs);
  for (let i = 0; i < all.length; i += batchSize) {
    if (i > 0) await new Promise((resolve) => setTimeout(resolve, BATCH_INTERVAL_MS));
    for (const socket of all.slice(i, i + batchSize)) {
      if (socket.readyState === 1) socket.close(CloseCode.SERVICE_RESTART, 'server restarting');
    }
  }
  await closed;
  clearTimeout(deadline);
}
