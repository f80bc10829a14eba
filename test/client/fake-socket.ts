/**
 * A scripted WebSocket for unit tests of the client: the test plays the server side by calling
 * `accept()`, `receive()` and `drop()` on the sockets the client opened.
 */
import type { WebSocketLike } from '../../src/client/index.ts';

export class FakeSocket implements WebSocketLike {
  /** Every socket constructed, in order. */
  static readonly all: FakeSocket[] = [];
  static reset(): void {
    FakeSocket.all.length = 0;
  }
  static get last(): FakeSocket {
    const socket = FakeSocket.all.at(-1);
    if (!socket) throw new Error('no socket was opened');
    return socket;
  }

  readyState = 0;
  readonly sent: any[] = [];
  closedWith: { code?: number; reason?: string } | undefined;
  onopen: ((event: any) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: ((event: any) => void) | null = null;

  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }

  send(data: string): void {
    this.sent.push(JSON.parse(data));
  }

  close(code?: number, reason?: string): void {
    this.closedWith = { code, reason };
    this.readyState = 3;
  }

  /** The server accepts and sends `welcome`. */
  accept(clientId = `c${FakeSocket.all.length}`): void {
    this.readyState = 1;
    this.onopen?.({});
    this.receive({ type: 'welcome', data: { clientId, path: new URL(this.url).pathname, ctx: { username: 'ann', roles: [], params: {} } } });
  }

  /** A multiplexed endpoint accepts: its welcome carries no path and no clientId. */
  acceptMany(maxSubscriptions = 100): void {
    this.readyState = 1;
    this.onopen?.({});
    this.receive({ type: 'welcome', data: { ctx: { username: 'ann', roles: [], params: {} }, maxSubscriptions } });
  }

  /** The welcome of a subscription on a multiplexed socket, tagged with its path. */
  welcomeSub(path: string, replay?: { seq: number; epoch: string }, clientId = `c-${path}`): void {
    this.receive({ type: 'welcome', data: { clientId, path, ctx: { username: 'ann', roles: [], params: {} }, ...(replay ? { replay } : {}) }, path });
  }

  /** The frames sent since the last call (and forgets them). */
  take(): any[] {
    return this.sent.splice(0);
  }

  receive(frame: unknown): void {
    this.onmessage?.({ data: typeof frame === 'string' ? frame : JSON.stringify(frame) });
  }

  /** The connection ends with `code` (1006: dropped without a close frame). */
  drop(code = 1006, reason = ''): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
}
