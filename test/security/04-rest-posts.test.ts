/**
 * Item 4: a REST post is made by its session's user or by `(guest)`, never `_system`, and
 * state-changing REST requests are rate limited per client IP and per signed-in user (429 with
 * Retry-After), so a guest cannot flood a room through REST past the socket's message rate.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { login, startApp, TestClient, type TestApp } from '../helpers.ts';
import { rawRequest } from './helpers.ts';

let app: TestApp;
beforeEach(async () => {
  app = await startApp({ limits: { httpWriteRate: 1, httpWriteBurst: 5 } });
});
afterEach(() => app.close());

const post = (text: string, headers: Record<string, string> = {}) =>
  fetch(`${app.url}/api/1/rooms/Berlin/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ text }),
  });

describe('REST posts (item 4)', () => {
  it('reach the room as (guest) without a session', async () => {
    const listener = await TestClient.connect(app.wsUrl('/api/1/ws/hello-rooms/Berlin'));
    expect((await post('hi')).status).toBe(201);
    expect((await listener.next('chat')).data.username).toBe('(guest)');
    await listener.close();
  });

  it('are limited per address: 429 with Retry-After and a JSON body past the burst', async () => {
    const started = performance.now();
    const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => post(`m${i}`)));
    const statuses = replies.map((r) => r.status);
    const accepted = statuses.filter((s) => s === 201).length;
    // The burst of 5, and the tokens the rate of 1/s added while the 50 were answered.
    expect(accepted).toBeGreaterThanOrEqual(5);
    expect(accepted).toBeLessThanOrEqual(5 + Math.ceil((performance.now() - started) / 1000));
    expect(statuses.filter((s) => s === 429)).toHaveLength(50 - accepted);
    const refused = replies.find((r) => r.status === 429)!;
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await refused.json()).toEqual({ error: 'too many requests; retry later' });
  });

  it('are limited per user too, whatever address the user posts from', async () => {
    const cookie = await login(app, 'ann');
    const body = JSON.stringify({ text: 'from everywhere' });
    const request = `POST /api/1/rooms/Berlin/messages HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nCookie: ${cookie}\r\nConnection: close\r\n\r\n${body}`;
    const started = performance.now();
    // Two posts from each of ten addresses: no address passes its own burst of 5.
    const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => rawRequest(app.port, request, { localAddress: `127.0.0.${2 + (i % 10)}` })));
    const accepted = replies.filter((r) => r.status === 201).length;
    expect(accepted).toBeGreaterThanOrEqual(5);
    expect(accepted).toBeLessThanOrEqual(5 + Math.ceil((performance.now() - started) / 1000));
    expect(replies.filter((r) => r.status === 429)).toHaveLength(20 - accepted);
  });
});
