/**
 * Item 3: an upgrade that passes routing but fails the handshake (bad or missing key, missing or
 * unsupported version, bad subprotocol), an upgrade to another protocol, and one whose Host the
 * adapter cannot parse: each is answered and its socket closed by the server, and thousands of
 * them leave the heap where it was (they used to leave ~4 KB each in @hono/node-ws's waiter map).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClient } from '../helpers.ts';
import { AppProcess, rawRequest, upgradeRequest } from './helpers.ts';

const PATH = '/api/1/ws/hello-rooms/x';
const MALFORMED: Record<string, string> = {
  'bad key': upgradeRequest(PATH, { 'Sec-WebSocket-Key': 'not-a-key' }),
  'no key': upgradeRequest(PATH, { 'Sec-WebSocket-Key': undefined }),
  'no version': upgradeRequest(PATH, { 'Sec-WebSocket-Version': undefined }),
  'version 7': upgradeRequest(PATH, { 'Sec-WebSocket-Version': '7' }),
  'bad subprotocol': upgradeRequest(PATH, { 'Sec-WebSocket-Protocol': 'a,,b' }),
  'another protocol': upgradeRequest(PATH, { Upgrade: 'h2c' }),
  'unparsable host': upgradeRequest(PATH, { Host: 'a\\b' }),
};

let app: AppProcess;
beforeAll(async () => {
  // No admission rate: every attempt reaches the handshake.
  app = await AppProcess.start({ WS_ADMISSION_RATE: '0', WS_ADMISSION_RATE_PER_IP: '0' });
});
afterAll(() => app.stop());

describe('malformed upgrades (item 3)', () => {
  it('are each answered 400 and closed by the server', async () => {
    for (const [name, request] of Object.entries(MALFORMED)) {
      const reply = await rawRequest(app.port, request);
      expect({ name, status: reply.status, closed: reply.closedByServer }).toEqual({ name, status: 400, closed: true });
    }
  });

  it('leave nothing behind, by the thousand', async () => {
    const requests = Object.values(MALFORMED);
    const attempt = async (rounds: number) => {
      let answered = 0;
      for (let round = 0; round < rounds; round++) {
        const replies = await Promise.all(requests.map((request) => rawRequest(app.port, request)));
        answered += replies.filter((r) => r.status === 400).length;
      }
      return answered;
    };
    // Warm up the code paths (compiled code and its feedback grow the heap too), then measure.
    await attempt(50);
    const before = await app.heap();
    const rounds = 300;
    expect(await attempt(rounds)).toBe(rounds * requests.length);
    // 2,100 attempts: at 4 KB each the leak of @hono/node-ws was 8.6 MB; warm-up noise stays below 1 MB.
    expect(await app.heap()).toBeLessThan(before + 2 * 1024 * 1024);
    expect(await app.stats()).toMatchObject({ clients: 0, namespaces: 0 });
    // And the slots are all free: real clients still get in, up to the per-IP limit.
    const clients = await Promise.all(Array.from({ length: 100 }, () => TestClient.connect(`ws://127.0.0.1:${app.port}${PATH}`)));
    expect(clients).toHaveLength(100);
    await Promise.all(clients.map((c) => c.close()));
  }, 60_000);
});
