/**
 * The socket of a WebSocket upgrade, from Node's `upgrade` event until it is an open WebSocket or
 * answered and closed: nothing that arrives through that event may leave a socket (and the
 * connection slots it holds) behind.
 *
 * `@hono/node-server` hands the upgrade to the app and, when the app did not call
 * `upgradeWebSocket`, answers with the app's status and headers but no body, and leaves the
 * socket half-open. We answer instead (any other `upgrade` listener makes it step aside): the
 * app's whole response (a retryable refusal's JSON and `Retry-After`), then the socket is
 * destroyed once the answer is written. An upgrade to anything but WebSocket, or one the adapter
 * could not turn into a request, gets a 400 the same way.
 */
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Context } from 'hono';
import type { WebSocketServer } from 'ws';
import type { Logger } from '../observe/logger.ts';
import type { AppEnv } from '../types.ts';

/** What `@hono/node-server` passes as `env` to the app's fetch for a request of the `upgrade` event. */
interface UpgradeEnv {
  incoming: IncomingMessage;
  outgoing: undefined;
}

type Fetch = (request: Request, env?: unknown) => Response | Promise<Response>;

/** Response headers that describe the connection or the framing, which the answer sets itself (RFC 9110 7.6.1). */
const HOP_BY_HOP = new Set(['connection', 'content-length', 'keep-alive', 'transfer-encoding', 'upgrade', 'te', 'trailer']);

/**
 * The request of a genuine upgrade: one that came through Node's `upgrade` event (a request
 * with `Upgrade: websocket` but no `Connection: upgrade` is an ordinary request, with a response
 * object, and must be treated as one), or undefined.
 */
export function upgradeRequestOf(c: Context<AppEnv>): IncomingMessage | undefined {
  const env = c.env as Partial<UpgradeEnv> | undefined;
  if (!env?.incoming || env.outgoing !== undefined) return undefined;
  return c.req.header('upgrade')?.toLowerCase() === 'websocket' ? env.incoming : undefined;
}

/** Answers and closes the upgrade sockets the app did not turn into a WebSocket. */
export class UpgradeSockets {
  /** Upgrade requests the app's fetch was called for. */
  readonly #fetched = new WeakSet<IncomingMessage>();
  /** Upgrade requests handed to `upgradeWebSocket`: from then on `ws` answers the handshake. */
  readonly #accepted = new WeakSet<IncomingMessage>();
  readonly #log: Logger;
  readonly #onUpgrade: (req: IncomingMessage, socket: Duplex) => void;
  readonly #checkFetched: (req: IncomingMessage, socket: Duplex) => void;

  constructor(log: Logger, wss: WebSocketServer) {
    this.#log = log;
    const upgrades = this;
    const socketError = function upgradeSocketError(err: Error) {
      log.debug({ err }, 'upgrade socket error');
    };
    // Once ws has the socket it listens for errors itself: ours goes, and with it a listener
    // array per connection.
    wss.on('connection', (_ws, req) => req.socket.removeListener('error', socketError));
    this.#checkFetched = function checkFetched(req, socket) {
      // The adapter calls the app at once, in its `upgrade` listener; when it did not, it could
      // not build the request (a malformed Host or target) and nobody else will answer.
      if (!upgrades.#fetched.has(req)) answer(socket, jsonResponse(400, 'malformed upgrade request'), log);
    };
    this.#onUpgrade = function onUpgrade(req, socket) {
      // A peer reset while the upgrade is routed must not be an uncaught exception.
      socket.on('error', socketError);
      if (req.headers.upgrade?.toLowerCase() !== 'websocket') {
        answer(socket, jsonResponse(400, 'only WebSocket upgrades are served here'), log);
        return;
      }
      process.nextTick(upgrades.#checkFetched, req, socket);
    };
  }

  /**
   * The app's fetch, as the adapter must call it: an upgrade that the app answered without
   * calling `upgradeWebSocket` gets that answer written to its socket, which is then closed.
   */
  fetch(appFetch: Fetch): Fetch {
    const upgrades = this;
    return function fetchWithUpgrades(request, env) {
      const incoming = (env as Partial<UpgradeEnv> | undefined)?.outgoing === undefined ? (env as Partial<UpgradeEnv> | undefined)?.incoming : undefined;
      if (!incoming) return appFetch(request, env);
      upgrades.#fetched.add(incoming);
      return upgrades.#settle(incoming, appFetch(request, env));
    };
  }

  /** Marks the upgrade of `c` as handed to `upgradeWebSocket` (call it just before). */
  accept(c: Context<AppEnv>): void {
    const incoming = upgradeRequestOf(c);
    if (incoming) this.#accepted.add(incoming);
  }

  /** Listens to the server's `upgrade` event, ahead of the adapter's own listener. */
  attach(server: { prependListener(event: 'upgrade', listener: (req: IncomingMessage, socket: Duplex) => void): unknown }): void {
    server.prependListener('upgrade', this.#onUpgrade);
  }

  async #settle(incoming: IncomingMessage, pending: Response | Promise<Response>): Promise<Response> {
    let response: Response;
    try {
      response = await pending;
    } catch (err) {
      answer(incoming.socket, jsonResponse(500, 'internal error'), this.#log);
      throw err;
    }
    // An accepted upgrade answers 200 and `ws` takes the socket; anything else is ours to answer
    // (`upgradeWebSocket` itself answers 500 on a server not created with `rt.serveOptions()`).
    if (!this.#accepted.has(incoming) || response.status !== 200) answer(incoming.socket, response, this.#log);
    return response;
  }
}

function jsonResponse(status: number, error: string): Response {
  return Response.json({ error }, { status });
}

/** Writes `response` as the HTTP/1.1 answer of an upgrade socket, then destroys the socket. */
function answer(socket: Duplex, response: Response, log: Logger): void {
  void write(socket, response).catch((err: unknown) => {
    log.debug({ err }, 'upgrade answer failed');
    socket.destroy();
  });
}

async function write(socket: Duplex, response: Response): Promise<void> {
  const body = Buffer.from(await response.arrayBuffer());
  if (socket.destroyed || socket.writableEnded) return;
  const lines = [`HTTP/1.1 ${response.status} ${STATUS_CODES[response.status] ?? ''}`, 'Connection: close', `Content-Length: ${body.length}`];
  response.headers.forEach((value, key) => {
    if (!HOP_BY_HOP.has(key)) lines.push(`${key}: ${value}`);
  });
  // Destroyed once written, not half-closed: a peer that never closes its side would otherwise
  // keep the socket, and its slots, for good.
  socket.once('finish', socket.destroy);
  socket.end(Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), body]));
}
