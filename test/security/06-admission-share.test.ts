/**
 * Item 6: one address's flood of connects cannot use up the instance's admission budget: each
 * address gets its own share (WS_ADMISSION_RATE_PER_IP), checked first, so that connects from
 * other addresses are still admitted while one floods.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startApp, type TestApp } from '../helpers.ts';
import { OTHER_ADDRESS } from './helpers.ts';

let app: TestApp;
beforeEach(async () => {
  app = await startApp({ limits: { admissionRate: 10, admissionBurst: 20, admissionRatePerIp: 2, admissionBurstPerIp: 5 } });
});
afterEach(() => app.close());

/** Opens and closes one socket from `localAddress`; resolves with 101 or the refusal's status. */
function attempt(localAddress: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(app.wsUrl('/api/1/ws/hello-rooms/x'), { localAddress });
    socket.once('open', () => {
      socket.close();
      resolve(101);
    });
    socket.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode!);
      socket.terminate();
    });
    socket.once('error', reject);
  });
}

describe('admission share per address (item 6)', () => {
  it('keeps the budget for other addresses while one floods', async () => {
    const started = performance.now();
    const flood = await Promise.all(Array.from({ length: 100 }, () => attempt('127.0.0.1')));
    // The flooding address got its burst of 5 and the tokens its rate of 2/s added meanwhile,
    // and was told to slow down (429), never the instance's 503.
    const admitted = 5 + Math.ceil((2 * (performance.now() - started)) / 1000);
    expect(flood.filter((s) => s === 101).length).toBeLessThanOrEqual(admitted);
    expect(flood.filter((s) => s === 429).length).toBe(100 - flood.filter((s) => s === 101).length);
    // A bystander right after the flood: the instance's own bucket was barely touched.
    const bystander = [];
    for (let i = 0; i < 5; i++) bystander.push(await attempt(OTHER_ADDRESS));
    expect(bystander).toEqual([101, 101, 101, 101, 101]);
  });
});
