import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { CloseCode } from '../../src/ws/codes.ts';
import { login, startApp, TestClient, type TestApp } from '../helpers.ts';
import { refusedStatus, roomUrl } from './helpers.ts';

let app: TestApp | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

describe('upgrade admission', () => {
  it('refuses past the global connection limit with 503, and frees the slot on close', async () => {
    app = await startApp({ limits: { maxConnections: 2 } });
    const a = await TestClient.connect(roomUrl(app, 'Berlin'));
    const b = await TestClient.connect(roomUrl(app, 'Berlin'));
    expect(await refusedStatus(roomUrl(app, 'Berlin'))).toBe(503);
    await b.close();
    // `left` is broadcast from the server's close path, which runs after the slot is released.
    await a.next('left');
    await TestClient.connect(roomUrl(app, 'Berlin'));
  });

  it('refuses past the per-IP limit with 429, reading X-Forwarded-For only from trusted proxies', async () => {
    app = await startApp({ limits: { maxConnectionsPerIp: 1, trustProxy: 1 } });
    await TestClient.connect(roomUrl(app, 'Berlin'), { 'x-forwarded-for': '203.0.113.7' });
    expect(await refusedStatus(roomUrl(app, 'Berlin'), { 'x-forwarded-for': '203.0.113.7' })).toBe(429);
    // A client-written entry left of the trusted one changes nothing.
    expect(await refusedStatus(roomUrl(app, 'Berlin'), { 'x-forwarded-for': '10.9.9.9, 203.0.113.7' })).toBe(429);
    const other = await TestClient.connect(roomUrl(app, 'Berlin'), { 'x-forwarded-for': '203.0.113.8' });
    expect(other.welcome.type).toBe('welcome');
  });

  it('ignores X-Forwarded-For without trust-proxy', async () => {
    app = await startApp({ limits: { maxConnectionsPerIp: 1 } });
    await TestClient.connect(roomUrl(app, 'Berlin'), { 'x-forwarded-for': '203.0.113.7' });
    expect(await refusedStatus(roomUrl(app, 'Berlin'), { 'x-forwarded-for': '203.0.113.8' })).toBe(429);
  });

  it('refuses past the per-user limit with 429; guests are not counted as one user', async () => {
    app = await startApp({ limits: { maxConnectionsPerUser: 1 } });
    const cookie = await login(app, 'alice');
    await TestClient.connect(roomUrl(app, 'Berlin'), { cookie });
    expect(await refusedStatus(roomUrl(app, 'Cairo'), { cookie })).toBe(429);
    await TestClient.connect(roomUrl(app, 'Berlin'));
    await TestClient.connect(roomUrl(app, 'Berlin'));
  });

  it('frees the per-IP and per-user slots when the socket closes', async () => {
    app = await startApp({ limits: { maxConnectionsPerIp: 1, maxConnectionsPerUser: 1, trustProxy: 1 } });
    const cookie = await login(app, 'alice');
    const alice = { cookie, 'x-forwarded-for': '203.0.113.7' };
    const watcher = await TestClient.connect(roomUrl(app, 'Berlin'), { 'x-forwarded-for': '203.0.113.9' });
    const first = await TestClient.connect(roomUrl(app, 'Berlin'), alice);
    expect(await refusedStatus(roomUrl(app, 'Berlin'), { 'x-forwarded-for': '203.0.113.7' })).toBe(429);
    expect(await refusedStatus(roomUrl(app, 'Berlin'), { cookie, 'x-forwarded-for': '203.0.113.8' })).toBe(429);
    await first.close();
    await watcher.next('left');
    const again = await TestClient.connect(roomUrl(app, 'Berlin'), alice);
    expect(again.welcome.type).toBe('welcome');
  });

  it('refuses a connection storm past the admission bucket with 503', async () => {
    app = await startApp({ limits: { admissionRate: 0.001, admissionBurst: 2 } });
    await TestClient.connect(roomUrl(app, 'Berlin'));
    await TestClient.connect(roomUrl(app, 'Berlin'));
    expect(await refusedStatus(roomUrl(app, 'Berlin'))).toBe(503);
  });

  it('caps live namespaces (503) but lets clients into live ones', async () => {
    app = await startApp({ limits: { maxNamespaces: 2 } });
    await TestClient.connect(roomUrl(app, 'Amsterdam'));
    await TestClient.connect(roomUrl(app, 'Berlin'));
    expect(await refusedStatus(roomUrl(app, 'Cairo'))).toBe(503);
    await TestClient.connect(roomUrl(app, 'Berlin'));
  });

  it('drops empty namespaces, so many random names leave nothing behind', async () => {
    app = await startApp({ limits: { maxNamespaces: 5, admissionRatePerIp: 0 } });
    for (let i = 0; i < 50; i++) {
      const c = await TestClient.connect(roomUrl(app, `r${Math.random().toString(36).slice(2)}`));
      const dropped = once(app.rt.registry, 'delete');
      await c.close();
      await dropped;
    }
    const keeper = await TestClient.connect(roomUrl(app, 'Berlin'));
    expect(keeper.welcome.type).toBe('welcome');
    expect(app.rt.registry.size).toBeLessThanOrEqual(5);
  });

  it('refuses upgrades while shutting down with 503, after closing clients with 1012', async () => {
    app = await startApp();
    const a = await TestClient.connect(roomUrl(app, 'Berlin'));
    const done = app.rt.shutdown({ spreadMs: 0, timeoutMs: 5000 });
    expect((await a.closed).code).toBe(CloseCode.SERVICE_RESTART);
    expect(await refusedStatus(roomUrl(app, 'Berlin'))).toBe(503);
    expect((await fetch(`${app.url}/ready`)).status).toBe(503);
    expect(await (await fetch(`${app.url}/health`)).json()).toMatchObject({ status: 'draining' });
    await done;
  });
});

describe('origin and session', () => {
  it('refuses a cross-site upgrade with 4403', async () => {
    app = await startApp();
    const c = await TestClient.open(roomUrl(app, 'Berlin'), { origin: 'https://evil.example' });
    expect(await c.closed).toEqual({ code: CloseCode.FORBIDDEN, reason: 'origin not allowed' });
    const nullOrigin = await TestClient.open(roomUrl(app, 'Berlin'), { origin: 'null' });
    expect((await nullOrigin.closed).code).toBe(CloseCode.FORBIDDEN);
  });

  it('accepts the same origin and the allowed origins', async () => {
    app = await startApp({ limits: { allowedOrigins: ['https://app.example'] } });
    const same = await TestClient.connect(roomUrl(app, 'Berlin'), { origin: app.url });
    const listed = await TestClient.connect(roomUrl(app, 'Berlin'), { origin: 'https://app.example' });
    expect([same.welcome.type, listed.welcome.type]).toEqual(['welcome', 'welcome']);
  });

  it('treats a tampered or garbage session cookie as a guest', async () => {
    app = await startApp();
    const cookie = await login(app, 'alice');
    const [name, token] = cookie.split('=') as [string, string];
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const forged = Buffer.from(JSON.stringify({ ...claims, sub: 'admin' })).toString('base64url');
    for (const bad of [`${name}=${header}.${forged}.${signature}`, `${name}=garbage`, `${name}=${token}x`]) {
      const c = await TestClient.connect(roomUrl(app, 'Berlin'), { cookie: bad });
      expect(c.welcome.data.ctx.username).toBe('(guest)');
    }
    const real = await TestClient.connect(roomUrl(app, 'Berlin'), { cookie });
    expect(real.welcome.data.ctx.username).toBe('alice');
  });

  it('sets the session cookie HttpOnly and SameSite=Lax, Secure when configured', async () => {
    app = await startApp({ cookieSecure: true });
    const res = await fetch(`${app.url}/api/1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'alice' }),
    });
    const cookie = res.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Lax/);
    expect(cookie).toMatch(/Secure/);
  });
});
