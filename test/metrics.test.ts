import { once } from 'node:events';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ROOM_PATTERN } from '../src/routes/rooms.ts';
import { startApp, TestClient, type TestApp, type TestConfig } from './helpers.ts';

const TOKEN = 'metrics-token-0123456789';
const METRICS = { mode: 'token', token: TOKEN } as const;
let app: TestApp;
beforeEach(async () => {
  app = await startApp({ metrics: METRICS });
});
afterEach(async () => {
  await app.close();
});

/** Replaces the app of this test by one with other limits. */
async function restartWith(limits: TestConfig['limits']): Promise<void> {
  await app.close();
  app = await startApp({ metrics: METRICS, limits });
}

const room = (name: string) => app.wsUrl(`/api/1/ws/hello-rooms/${name}`);

/** One sample per line: `name{labels}` to value. */
type Samples = Map<string, number>;

async function scrape(): Promise<{ text: string; samples: Samples }> {
  const res = await fetch(`${app.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/plain');
  const text = await res.text();
  const samples: Samples = new Map();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*(?:\{.*\})?) (\S+)$/.exec(line);
    if (m) samples.set(m[1]!, Number(m[2]));
  }
  return { text, samples };
}

const byPattern = (name: string) => `${name}{pattern="${ROOM_PATTERN}"}`;

/** Resolves after the server has handled the next disconnect. */
const nextDisconnect = () => once(app.rt.events, 'disconnect');

describe('GET /metrics', () => {
  it('requires the bearer token', async () => {
    expect((await fetch(`${app.url}/metrics`)).status).toBe(401);
    const wrong = await fetch(`${app.url}/metrics`, { headers: { authorization: 'Bearer nope-nope-nope-nope' } });
    expect(wrong.status).toBe(401);
  });

  it('is not served when off (the default without a token)', async () => {
    const off = await startApp();
    try {
      expect(off.metrics).toBeUndefined();
      expect((await fetch(`${off.url}/metrics`)).status).toBe(404);
    } finally {
      await off.close();
    }
  });

  it('is served to anyone when public', async () => {
    const pub = await startApp({ metrics: { mode: 'public', token: undefined } });
    try {
      const res = await fetch(`${pub.url}/metrics`);
      expect(res.status).toBe(200);
      const text = await res.text();
      expect(text).toContain('hns_connections');
      // Standard process metrics, event-loop lag included.
      expect(text).toContain('process_cpu_user_seconds_total');
      expect(text).toContain('nodejs_eventloop_lag_seconds');
    } finally {
      await pub.close();
    }
  });
});

describe('metrics move as events happen', () => {
  it('a connect raises the connection gauge and a disconnect lowers it', async () => {
    const a = await TestClient.connect(room('Berlin'));
    let { samples } = await scrape();
    expect(samples.get(byPattern('hns_connections'))).toBe(1);
    expect(samples.get(byPattern('hns_namespaces'))).toBe(1);
    expect(samples.get(byPattern('hns_upgrades_accepted_total'))).toBe(1);

    const b = await TestClient.connect(room('Cairo'));
    ({ samples } = await scrape());
    expect(samples.get(byPattern('hns_connections'))).toBe(2);
    expect(samples.get(byPattern('hns_namespaces'))).toBe(2);

    const gone = nextDisconnect();
    a.socket.close(1000);
    await gone;
    ({ samples } = await scrape());
    expect(samples.get(byPattern('hns_connections'))).toBe(1);
    expect(samples.get(byPattern('hns_namespaces'))).toBe(1);
    expect(samples.get(`hns_disconnects_total{pattern="${ROOM_PATTERN}",code="1000"}`)).toBe(1);
    expect(samples.get(`hns_connection_duration_seconds_count{pattern="${ROOM_PATTERN}"}`)).toBe(1);
    await b.close();
  });

  it('a refusal counts its reason', async () => {
    const invalid = await TestClient.open(room('not%20a%20room'));
    expect((await invalid.closed).code).toBe(4400);
    const unknown = await TestClient.open(app.wsUrl('/api/1/ws/nothing-here'));
    expect((await unknown.closed).code).toBe(4404);
    const { samples } = await scrape();
    expect(samples.get('hns_upgrades_refused_total{reason="invalid_params"}')).toBe(1);
    expect(samples.get('hns_upgrades_refused_total{reason="not_found"}')).toBe(1);
    expect(samples.get(byPattern('hns_upgrades_accepted_total'))).toBeUndefined();
  });

  it('counts messages in and out, the broadcast fan-out and errors sent by code', async () => {
    const a = await TestClient.connect(room('Berlin'));
    const b = await TestClient.connect(room('Berlin'));
    const c = await TestClient.connect(room('Berlin'));
    const before = (await scrape()).samples;
    await a.request('chat', { text: 'hi' });
    await b.next('chat');
    await c.next('chat');
    a.send('not json');
    expect((await a.next('error')).data.code).toBe('bad_json');

    const { samples } = await scrape();
    const delta = (name: string) => (samples.get(name) ?? 0) - (before.get(name) ?? 0);
    expect(delta(byPattern('hns_messages_received_total'))).toBe(2);
    // The chat to three clients, the ack and the error.
    expect(delta(byPattern('hns_messages_sent_total'))).toBe(5);
    expect(delta(byPattern('hns_broadcast_fanout_count'))).toBe(1);
    expect(delta(byPattern('hns_broadcast_fanout_sum'))).toBe(3);
    expect(samples.get('hns_errors_sent_total{code="bad_json"}')).toBe(1);
    expect(delta('hns_broker_published_total')).toBe(1);
    expect(delta('hns_broker_received_total')).toBe(1);
    expect(samples.get('hns_broker_up{kind="memory"}')).toBe(1);
    expect(samples.get('hns_presence_up{kind="memory"}')).toBe(1);
  });
});

describe('safety limits are counted', () => {
  it('a refusal by a limit counts its own reason', async () => {
    await restartWith({ maxConnectionsPerIp: 1 });
    const first = await TestClient.connect(room('Berlin'));
    await expect(TestClient.open(room('Berlin'))).rejects.toMatchObject({ status: 429 });
    const { samples } = await scrape();
    expect(samples.get('hns_upgrades_refused_total{reason="ip_limit"}')).toBe(1);
    expect(samples.get('hns_upgrades_refused_total{reason="draining"}')).toBe(0);
    await first.close();
  });

  it('counts rate-limited messages', async () => {
    // A rate so low that no token is refilled while the test runs.
    await restartWith({ messageRate: 0.001, messageBurst: 1, maxRejected: 5 });
    const c = await TestClient.connect(room('Berlin'));
    expect((await c.request('chat', { text: 'ok' })).type).toBe('ack');
    for (let i = 0; i < 2; i++) {
      c.send({ type: 'chat', data: { text: 'flood' } });
      expect((await c.next('error')).data.code).toBe('rate_limited');
    }
    const { samples } = await scrape();
    expect(samples.get(byPattern('hns_messages_rate_limited_total'))).toBe(2);
    expect(samples.get('hns_errors_sent_total{code="rate_limited"}')).toBe(2);
  });

  it('counts slow-consumer disconnects', async () => {
    await restartWith({ maxBufferedBytes: 64 * 1024 });
    const slow = await TestClient.connect(room('Berlin'));
    slow.socket.pause();
    let cut = false;
    app.rt.events.once('slowConsumer', () => (cut = true));
    const text = 'x'.repeat(16 * 1024);
    // Until the kernel buffers are full and the server's queue passes the limit.
    for (let i = 0; !cut && i < 8192; i++) await app.rt.broadcast('/api/1/ws/hello-rooms/Berlin', 'chat', { i, text });
    expect(cut).toBe(true);
    slow.socket.resume();
    expect((await slow.closed).code).toBe(1013);
    const { samples } = await scrape();
    expect(samples.get(byPattern('hns_slow_consumer_disconnects_total'))).toBe(1);
    expect(samples.get(`hns_disconnects_total{pattern="${ROOM_PATTERN}",code="1013"}`)).toBe(1);
  });
});

describe('bounded labels', () => {
  it('keeps the same series whatever the number of room names', async () => {
    await restartWith({ maxConnectionsPerIp: 5000, admissionRate: 0, admissionRatePerIp: 0, httpMaxConnectionsPerIp: 10_000 });
    async function openRooms(names: string[]): Promise<TestClient[]> {
      const out: TestClient[] = [];
      for (let i = 0; i < names.length; i += 100) {
        out.push(...(await Promise.all(names.slice(i, i + 100).map((n) => TestClient.connect(room(n))))));
      }
      return out;
    }
    const few = await openRooms(['r0', 'r1']);
    await few[0]!.request('chat', { text: 'x' });
    const seriesFew = [...(await scrape()).samples.keys()].filter((k) => k.startsWith('hns_'));

    const names = Array.from({ length: 2000 }, (_, i) => `room-${i}`);
    const many = await openRooms(names);
    await many[1999]!.request('chat', { text: 'x' });
    const { text, samples } = await scrape();
    const seriesMany = [...samples.keys()].filter((k) => k.startsWith('hns_'));

    expect(seriesMany.sort()).toEqual(seriesFew.sort());
    expect(samples.get(byPattern('hns_connections'))).toBe(2002);
    expect(samples.get(byPattern('hns_namespaces'))).toBe(2002);
    expect(text).not.toContain('room-');
    for (const c of [...few, ...many]) c.socket.terminate();
  }, 30_000);

  it('folds unknown close codes into one label', async () => {
    for (const code of [3001, 3002, 4999]) {
      const c = await TestClient.connect(room('Berlin'));
      const gone = nextDisconnect();
      c.socket.close(code);
      await gone;
    }
    const { samples } = await scrape();
    expect(samples.get(`hns_disconnects_total{pattern="${ROOM_PATTERN}",code="other"}`)).toBe(3);
  });
});
