import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../src/log.ts';
import { MemoryBroker, MemoryHub } from '../src/ws/broker/memory.ts';
import { unwrapEnvelope } from '../src/ws/broker/envelope.ts';
import { testRoutes } from './fixtures/test-routes.ts';
import { startApp, TestClient, type TestApp } from './helpers.ts';

type Line = Record<string, any>;

/** A logger writing JSON lines into an array, read back as objects. */
function capture(level = 'debug') {
  const lines: Line[] = [];
  const logger = createLogger(level, { destination: { write: (s: string) => void lines.push(JSON.parse(s)) } });
  return { logger, lines, find: (msg: string) => lines.filter((l) => l.msg === msg) };
}

const apps: TestApp[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});
async function start(logger = capture().logger, broker?: MemoryBroker) {
  const app = await startApp({}, { logger, routes: testRoutes, ...(broker ? { broker } : {}) });
  apps.push(app);
  return app;
}
const roomUrl = (app: TestApp, name: string) => app.wsUrl(`/api/1/ws/hello-rooms/${name}`);

describe('logs', () => {
  it('one line per connect and disconnect, with clientId, path, username, ip, code and duration', async () => {
    const log = capture('info');
    const app = await start(log.logger);
    const c = await TestClient.connect(roomUrl(app, 'Berlin'));
    const gone = once(app.rt.events, 'disconnect');
    c.socket.close(1000, 'bye');
    await gone;

    const clientId = c.welcome.data.clientId;
    const common = { clientId, path: '/api/1/ws/hello-rooms/Berlin', username: '(guest)', ip: '127.0.0.1', instanceId: app.rt.instanceId };
    expect(log.find('connected')).toEqual([expect.objectContaining({ ...common, level: 30, pattern: '/api/1/ws/hello-rooms/:roomName' })]);
    const [left] = log.find('disconnected');
    expect(left).toMatchObject({ ...common, level: 30, code: 1000, reason: 'bye' });
    expect(left!.durationMs).toBeGreaterThanOrEqual(0);
    // The upgrade's request id follows the connect to its `joined` broadcast; the disconnect gets its own.
    expect(log.find('connected')[0]!.correlationId).toMatch(/^[0-9a-f-]{36}$/);
    expect(left!.correlationId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('one line per refusal, with its reason and ip', async () => {
    const log = capture('info');
    const app = await start(log.logger);
    const c = await TestClient.open(roomUrl(app, 'bad%20name'));
    await c.closed;
    expect(log.find('upgrade refused')).toEqual([
      expect.objectContaining({ level: 30, reason: 'invalid_params', closeCode: 4400, ip: '127.0.0.1', path: '/api/1/ws/hello-rooms/bad name' }),
    ]);
  });

  it('a handler error is logged with its stack and the message correlation id', async () => {
    const log = capture('debug');
    const app = await start(log.logger);
    const c = await TestClient.connect(app.wsUrl('/api/1/ws/literal'));
    const reply = await c.request('boom', {});
    expect(reply.data.code).toBe('handler_error');

    const [line] = log.find('onMessage handler threw');
    expect(line).toMatchObject({ level: 50, clientId: c.welcome.data.clientId, path: '/api/1/ws/literal', ip: '127.0.0.1', handler: 'onMessage' });
    expect(line!.err.stack).toContain('handler bug');
    expect(line!.correlationId).toBe(log.find('message received')[0]!.correlationId);
  });

  it('a correlation id follows a message from receipt to its broadcast, across instances', async () => {
    const hub = new MemoryHub();
    const logA = capture();
    const logB = capture();
    const a = await start(logA.logger, new MemoryBroker(hub));
    const b = await start(logB.logger, new MemoryBroker(hub));
    // A third party on the hub reads the envelope: the id travels with the payload itself.
    const spy = new MemoryBroker(hub);
    const headers: Array<string | undefined> = [];
    await spy.subscribe('/api/1/ws/hello-rooms/Berlin', (p) => void headers.push(unwrapEnvelope(p)?.header.c));

    const sender = await TestClient.connect(roomUrl(a, 'Berlin'));
    const reader = await TestClient.connect(roomUrl(b, 'Berlin'));
    await sender.request('chat', { text: 'hello' });
    await reader.next('chat');

    const received = logA.find('message received');
    expect(received).toHaveLength(1);
    const id = received[0]!.correlationId;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(received[0]).toMatchObject({ type: 'chat', clientId: sender.welcome.data.clientId });
    expect(logA.find('broadcast published').map((l) => l.correlationId)).toContain(id);
    expect(logB.find('broadcast delivered')).toContainEqual(expect.objectContaining({ correlationId: id, recipients: 1 }));
    expect(headers).toContain(id);
    await spy.close();
  });

  it('a REST broadcast carries the request id', async () => {
    const log = capture();
    const app = await start(log.logger);
    const res = await fetch(`${app.url}/api/1/rooms/Berlin/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'req-42' },
      body: JSON.stringify({ text: 'from rest' }),
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('x-request-id')).toBe('req-42');
    expect(log.find('broadcast published')).toEqual([expect.objectContaining({ correlationId: 'req-42', path: '/api/1/ws/hello-rooms/Berlin' })]);
  });

  it('a broker state change is one line', async () => {
    const log = capture('info');
    const broker = new (class extends MemoryBroker {
      listeners: Array<(s: 'ok' | 'degraded') => void> = [];
      override onStateChange(l: (s: 'ok' | 'degraded') => void) {
        this.listeners.push(l);
      }
    })();
    await start(log.logger, broker);
    for (const l of broker.listeners) l('degraded');
    for (const l of broker.listeners) l('ok');
    expect(log.find('broker connection lost: broadcasts are refused until it is back')).toEqual([
      expect.objectContaining({ level: 40, state: 'degraded', broker: 'memory' }),
    ]);
    expect(log.find('broker connection restored')).toEqual([expect.objectContaining({ level: 30, state: 'ok' })]);
    expect(log.find('broker connected')).toEqual([]);
  });
});
