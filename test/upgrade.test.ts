/** The upgrade pipeline: params, access, onCreate, refusals a browser can read. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CloseCode } from '../src/protocol/codes.ts';
import { testRoutes } from './fixtures/test-routes.ts';
import { login, startApp, TestClient, type TestApp } from './helpers.ts';

let app: TestApp;
beforeEach(async () => {
  app = await startApp({ userRoles: { root: ['admin'] } }, { routes: testRoutes });
});
afterEach(async () => {
  await app.close();
});

describe('params', () => {
  it('extracts one param into ctx.params', async () => {
    const c = await TestClient.connect(app.wsUrl('/api/1/ws/hello-rooms/Berlin'));
    expect(c.welcome.data.ctx.params).toEqual({ roomName: 'Berlin' });
    expect(c.welcome.data.path).toBe('/api/1/ws/hello-rooms/Berlin');
  });

  it('extracts several params', async () => {
    const c = await TestClient.connect(app.wsUrl('/api/1/ws/test/maps/1234'));
    expect(c.welcome.data.ctx.params).toEqual({ group: 'maps', item: '1234' });
    expect(app.rt.registry.get('/api/1/ws/test/maps/1234')?.pattern).toBe('/api/1/ws/test/:group/:item');
  });

  it('gives {} on a literal path', async () => {
    const c = await TestClient.connect(app.wsUrl('/api/1/ws/literal'));
    expect(c.welcome.data.ctx.params).toEqual({});
  });

  it('refuses a path that matches no pattern with 4404', async () => {
    const c = await TestClient.open(app.wsUrl('/api/1/ws/nowhere/1'));
    expect(await c.closed).toEqual({ code: CloseCode.NOT_FOUND, reason: 'no namespace at this path' });
  });

  it('refuses invalid params with 4400 and creates no namespace', async () => {
    const c = await TestClient.open(app.wsUrl('/api/1/ws/test/maps/not-a-number'));
    const closed = await c.closed;
    expect(closed.code).toBe(CloseCode.INVALID_PARAMS);
    expect(closed.reason).toMatch(/item/);
    expect(app.rt.registry.has('/api/1/ws/test/maps/not-a-number')).toBe(false);
    expect(app.rt.registry.size).toBe(0);
  });

  it('refuses a hostile room name', async () => {
    const c = await TestClient.open(app.wsUrl(`/api/1/ws/hello-rooms/${'x'.repeat(500)}`));
    expect((await c.closed).code).toBe(CloseCode.INVALID_PARAMS);
    const d = await TestClient.open(app.wsUrl('/api/1/ws/hello-rooms/%3Cscript%3E'));
    expect((await d.closed).code).toBe(CloseCode.INVALID_PARAMS);
  });
});

describe('onCreate', () => {
  it('accepts with ctx unchanged', async () => {
    const c = await TestClient.connect(app.wsUrl('/api/1/ws/gated/ok'));
    expect(c.welcome.data.ctx.firstName).toBe('');
  });

  it('accepts with an amended ctx that handlers and the client see', async () => {
    const c = await TestClient.connect(app.wsUrl('/api/1/ws/gated/amend'));
    expect(c.welcome.data.ctx.firstName).toBe('Amended');
  });

  it('rejects with 4403 when it returns null, and creates no namespace', async () => {
    const c = await TestClient.open(app.wsUrl('/api/1/ws/gated/deny'));
    expect(await c.closed).toEqual({ code: CloseCode.FORBIDDEN, reason: 'refused by onCreate' });
    expect(app.rt.registry.has('/api/1/ws/gated/deny')).toBe(false);
  });

  it('awaits one that answers with a promise or any thenable', async () => {
    const refused = await TestClient.open(app.wsUrl('/api/1/ws/gated/later-deny'));
    expect(await refused.closed).toEqual({ code: CloseCode.FORBIDDEN, reason: 'refused by onCreate' });
    const c = await TestClient.connect(app.wsUrl('/api/1/ws/gated/thenable'));
    expect(c.welcome.data.ctx.lastName).toBe('Thenable');
  });
});

describe('access', () => {
  it('refuses a guest where a session is required with 4401', async () => {
    const c = await TestClient.open(app.wsUrl('/api/1/ws/members-only/1'));
    expect((await c.closed).code).toBe(CloseCode.UNAUTHORIZED);
  });

  it('admits a signed-in user, with ctx from the session', async () => {
    const cookie = await login(app, 'alice', { firstName: 'Alice', lastName: 'Liddell' });
    const c = await TestClient.connect(app.wsUrl('/api/1/ws/members-only/1'), { cookie });
    expect(c.welcome.data.ctx).toEqual({
      username: 'alice',
      roles: [],
      firstName: 'Alice',
      lastName: 'Liddell',
      initials: 'AL',
      params: { id: '1' },
    });
  });

  it('refuses a user without the required role with 4403', async () => {
    const cookie = await login(app, 'alice');
    const c = await TestClient.open(app.wsUrl('/api/1/ws/admin/1'), { cookie });
    const closed = await c.closed;
    expect(closed.code).toBe(CloseCode.FORBIDDEN);
    expect(closed.reason).toMatch(/admin/);
  });

  it('admits a user whose role comes from configuration', async () => {
    const cookie = await login(app, 'root');
    const c = await TestClient.connect(app.wsUrl('/api/1/ws/admin/1'), { cookie });
    expect(c.welcome.data.ctx.roles).toEqual(['admin']);
  });

  it('accepts a bearer token as well as the cookie', async () => {
    const res = await fetch(`${app.url}/api/1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'root' }),
    });
    const { token } = await res.json();
    const c = await TestClient.connect(app.wsUrl('/api/1/ws/admin/1'), { authorization: `Bearer ${token}` });
    expect(c.welcome.data.ctx.username).toBe('root');
  });

  it('gives a guest a complete ctx', async () => {
    const c = await TestClient.connect(app.wsUrl('/api/1/ws/literal'));
    expect(c.welcome.data.ctx).toEqual({
      username: '(guest)',
      roles: [],
      firstName: '',
      lastName: '',
      initials: '',
      params: {},
    });
    expect(c.welcome.data.clientId).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('plain HTTP on a namespace path', () => {
  it('answers 426 to a request without upgrade', async () => {
    const res = await fetch(`${app.url}/api/1/ws/literal`);
    expect(res.status).toBe(426);
  });

  it('answers a permanent refusal with its HTTP status and JSON', async () => {
    const res = await fetch(`${app.url}/api/1/ws/members-only/1`);
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ closeCode: CloseCode.UNAUTHORIZED });
  });
});
