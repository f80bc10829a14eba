/**
 * A multiplexed socket in tests: a `TestClient` on `/api/1/ws`, whose frames are taken by path
 * (the subscriptions' frames interleave on one socket).
 */
import { TestClient, type Frame, type TestApp } from '../helpers.ts';

export const MUX_PATH = '/api/1/ws';

export type MuxClient = TestClient & { welcome: Frame };

/** Opens `/api/1/ws` and reads its welcome. */
export function openMux(app: TestApp, headers: Record<string, string> = {}): Promise<MuxClient> {
  return TestClient.connect(app.wsUrl(MUX_PATH), headers);
}

/** The next frame not taken of the subscription `path` (of `type`, when given). */
export function takeOf(client: TestClient, path: string, type?: string): Promise<Frame> {
  return client.take((f) => f.path === path && (!type || f.type === type));
}

/** Subscribes to `path`; resolves with its first answer: its `welcome`, or `unsubscribed` when refused. */
export function subscribe(client: TestClient, path: string): Promise<Frame> {
  client.send({ type: 'subscribe', data: { path } });
  return client.take((f) => f.path === path && (f.type === 'welcome' || f.type === 'unsubscribed'));
}

/** Unsubscribes from `path`; resolves with its `unsubscribed`. */
export function unsubscribe(client: TestClient, path: string): Promise<Frame> {
  client.send({ type: 'unsubscribe', data: { path } });
  return takeOf(client, path, 'unsubscribed');
}

/** Sends a message of the subscription `path` with an id; resolves with its reply (`ack` or `error`). */
export function requestOn(client: TestClient, path: string, type: string, data?: unknown): Promise<Frame> {
  const id = `r${Math.random().toString(36).slice(2)}`;
  client.send({ type, data, id, path });
  return client.take((f) => f.id === id);
}
