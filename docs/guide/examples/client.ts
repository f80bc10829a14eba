/**
 * The client side of the lists (`lists.ts`): what a page does with `/client.js`, written so that
 * `test/guide/examples.test.ts` runs it in Node against a real server.
 */
import WebSocket from 'ws';
import {
  backoffDelay,
  ClientErrorCode,
  CloseCode,
  connect,
  DEFAULT_BACKOFF,
  ErrorCode,
  isPermanentClose,
  RequestError,
  type BackoffOptions,
  type NetworkEvents,
  type ReplayHead,
  type WebSocketLike,
  type Welcome,
  type ClientOptions,
  type Frame,
  type RealtimeClient,
  type ResyncResult,
  type Status,
  type StatusDetail,
  type WebSocketConstructor,
} from 'hono-namespaces/client';
import type { Item } from './lists.ts';

/** What the page shows; the test records the calls. */
export interface ListView {
  all(items: Item[]): void;
  item(item: Item, replayed: boolean): void;
  status(status: Status, detail: StatusDetail): void;
}

// #region connect
/** `origin`: the page's (`location.origin`) in a browser; `options` carries `WebSocket` in Node. */
export function openList(origin: string, listId: string, view: ListView, options: ClientOptions = {}): RealtimeClient {
  const list = connect(`/api/1/ws/lists/${listId}`, {
    baseUrl: origin,
    ...options,
    // The full state and the seq it is at: called once at the start, then only when what was
    // missed cannot be replayed (or after every reconnect, in a namespace without replay).
    async resync(): Promise<ResyncResult> {
      const res = await fetch(new URL(`/api/1/lists/${listId}`, origin));
      if (!res.ok) throw new Error(`resync failed: HTTP ${res.status}`); // the client reconnects and retries
      const state = (await res.json()) as { items: Item[]; seq: number; epoch: string };
      view.all(state.items);
      return { seq: state.seq, epoch: state.epoch };
    },
  });
  list.on<Item>('item-added', (item, frame) => view.item(item, frame.replayed === true));
  list.on<Item>('item-done', (item, frame) => view.item(item, frame.replayed === true));
  list.onStatusChange((status, _oldStatus, detail) => view.status(status, detail));
  return list;
}
// #endregion

// #region request
/** Adds an item; resolves with its id, or undefined when the server refused it. */
export async function addItem(list: RealtimeClient, text: string): Promise<number | undefined> {
  try {
    const { id } = await list.request<{ id: number }>('item-add', { text });
    return id;
  } catch (err) {
    if (!(err instanceof RequestError)) throw err;
    if (err.fromServer) return undefined; // refused: err.code is e.g. invalid_data or rate_limited
    // not_connected: nothing was sent; disconnected or timeout: it may or may not have been done.
    if (err.code === ClientErrorCode.NOT_CONNECTED) return addItemLater(list, text);
    throw err;
  }
}
// #endregion

function addItemLater(list: RealtimeClient, text: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const off = list.onStatusChange((status) => {
      if (status !== 'connected') return;
      off();
      resolve(addItem(list, text));
    });
  });
}

// #region status
/** A status line for the page, from the client's status and the close that caused it. */
export function statusText(status: Status, detail: StatusDetail): string {
  switch (status) {
    case 'connecting':
      return 'connecting...';
    case 'connected':
      return 'live';
    case 'reconnecting':
      return detail.delayMs === undefined ? 'offline' : `reconnecting in ${Math.ceil(detail.delayMs / 1000)} s`;
    case 'rejected': // a 44xx close: the client will not retry
      return detail.code === CloseCode.FORBIDDEN ? 'this list is not yours to see' : `refused: ${detail.reason}`;
    case 'disconnected':
      return 'closed';
  }
}
// #endregion

// #region codes
/** Whether the client retries after a close with this code (`onStatusChange`'s detail.code): all but 4400-4499. */
export const willRetry = (code: number): boolean => !isPermanentClose(code);

/** A message for an error frame's code (`ErrorCode`), or the server's own text. */
export function errorText(frame: Frame<{ code: string; error: string }>): string {
  if (frame.data.code === ErrorCode.RATE_LIMITED) return 'slow down';
  if (frame.data.code === ErrorCode.INVALID_DATA) return `not accepted: ${frame.data.error}`;
  return frame.data.error;
}
// #endregion

// #region backoff
/** The client's reconnect delays (full jitter): attempt n waits a random time below min(max, base * 2^n). */
export function delays(attempts: number, options: BackoffOptions = DEFAULT_BACKOFF): number[] {
  return Array.from({ length: attempts }, (_, attempt) => backoffDelay(attempt, options));
}
// #endregion

// #region node
/** In Node: the `ws` package, with the session cookie (or `authorization: Bearer <token>`) on the upgrade. */
export function nodeWebSocket(cookie: string): WebSocketConstructor {
  return class extends WebSocket {
    constructor(url: string) {
      super(url, { headers: { cookie } });
    }
  };
}
// #endregion

// #region welcome
/** Who the server says this connection is, and where the namespace's sequence stood. */
export function whoAmI(welcome: Welcome | null): string {
  if (!welcome) return 'not connected yet';
  const head: ReplayHead | null | undefined = welcome.replay; // undefined without replay, null if unreadable
  return `${welcome.ctx.username} on ${welcome.path}${head ? ` at seq ${head.seq}` : ''}`;
}
// #endregion

// #region network
/** online/offline from elsewhere than `window` (a native shell, a test): pass as `options.network`. */
export class ManualNetwork implements NetworkEvents {
  readonly #listeners = { online: new Set<() => void>(), offline: new Set<() => void>() };
  addEventListener(type: 'online' | 'offline', listener: () => void): void {
    this.#listeners[type].add(listener);
  }
  removeEventListener(type: 'online' | 'offline', listener: () => void): void {
    this.#listeners[type].delete(listener);
  }
  /** Going offline drops the socket and waits; going online reconnects at once. */
  set(online: boolean): void {
    for (const listener of this.#listeners[online ? 'online' : 'offline']) listener();
  }
}
// #endregion

// #region websocket-like
/** Any constructor of a WebSocketLike will do: here one that logs what the client sends. */
export function loggingWebSocket(Base: WebSocketConstructor, log: (sent: string) => void): WebSocketConstructor {
  return class LoggingWebSocket extends (Base as new (url: string) => WebSocketLike) {
    override send(data: string): void {
      log(data);
      super.send(data);
    }
  };
}
// #endregion
