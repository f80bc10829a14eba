/** Sessions: login by name, roles from configuration only, tampered tokens are guests. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/log.ts';
import { TEST_SECRET } from './helpers.ts';

const { app } = buildApp(
  { ...loadConfig({}), sessionSecret: TEST_SECRET, userRoles: { root: ['admin', 'editor'] } },
  { logger: createLogger('silent') },
);

async function loginAs(body: unknown) {
  const res = await app.request('/api/1/auth/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { res, cookie: res.headers.get('set-cookie')?.split(';')[0] ?? '' };
}

describe('auth routes', () => {
  it('logs in by name and sets an HttpOnly, SameSite=Lax cookie', async () => {
    const { res } = await loginAs({ username: 'alice', firstName: 'Alice' });
    expect(res.status).toBe(200);
    expect(res.headers.get('set-cookie')).toMatch(/HttpOnly/);
    expect(res.headers.get('set-cookie')).toMatch(/SameSite=Lax/);
    const body = await res.json();
    expect(body.user).toMatchObject({ username: 'alice', firstName: 'Alice', roles: [], initials: 'A' });
    expect(typeof body.token).toBe('string');
  });

  it('reads the session back on /me, and a guest gets null', async () => {
    const { cookie } = await loginAs({ username: 'root' });
    const me = await (await app.request('/api/1/auth/me', { headers: { cookie } })).json();
    expect(me.user).toMatchObject({ username: 'root', roles: ['admin', 'editor'] });
    expect(await (await app.request('/api/1/auth/me')).json()).toEqual({ user: null });
  });

  it('never takes roles from the client', async () => {
    const { cookie } = await loginAs({ username: 'mallory', roles: ['admin'] });
    const me = await (await app.request('/api/1/auth/me', { headers: { cookie } })).json();
    expect(me.user.roles).toEqual([]);
  });

  it('treats a tampered token as a guest', async () => {
    const { cookie } = await loginAs({ username: 'alice' });
    const [name, token] = cookie.split('=') as [string, string];
    const [h, p, s] = token.split('.') as [string, string, string];
    const forged = Buffer.from(JSON.stringify({ sub: 'root', exp: 9999999999 })).toString('base64url');
    for (const bad of [`${h}.${forged}.${s}`, `${h}.${p}.${s.slice(0, -2)}xx`, 'garbage']) {
      const me = await (await app.request('/api/1/auth/me', { headers: { cookie: `${name}=${bad}` } })).json();
      expect(me.user).toBeNull();
    }
  });

  it('refuses reserved or malformed usernames with 400 and the issues', async () => {
    for (const username of ['_system', '(guest)', '', 'a'.repeat(40), 'two words']) {
      const { res } = await loginAs({ username });
      expect(res.status).toBe(400);
    }
  });

  it('logs out by clearing the cookie', async () => {
    const res = await app.request('/api/1/auth/logout', { method: 'POST' });
    expect(res.status).toBe(200);
    expect(res.headers.get('set-cookie')).toMatch(/session=;/);
  });
});

describe('REST', () => {
  it('lists the default rooms', async () => {
    const body = await (await app.request('/api/1/rooms')).json();
    expect(body.rooms.map((r: { name: string }) => r.name)).toEqual(['Amsterdam', 'Berlin', 'Cairo']);
  });

  it('refuses an invalid room name with 400', async () => {
    expect((await app.request('/api/1/rooms/bad%20room')).status).toBe(400);
    const post = await app.request('/api/1/rooms/Berlin/messages', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: '' }),
    });
    expect(post.status).toBe(400);
  });

  it('answers bad JSON bodies with 400, unknown paths with 404', async () => {
    const res = await app.request('/api/1/auth/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{nope',
    });
    expect(res.status).toBe(400);
    expect((await app.request('/api/1/nothing')).status).toBe(404);
  });

  it('reports health', async () => {
    expect(await (await app.request('/health')).json()).toMatchObject({ status: 'ok' });
  });
});
