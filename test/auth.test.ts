/** Sessions: login by name, roles from configuration only, tampered tokens are guests. */
import { createHmac } from 'node:crypto';
import { Hono } from 'hono';
import { sign as honoSign } from 'hono/jwt';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/log.ts';
import { createSessions } from '../src/ws/auth/session.ts';
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

/** A JWT with any header and payload, signed with HMAC-SHA-256 (or `alg`'s hash) over `secret`. */
function forge(header: object, payload: object, secret = TEST_SECRET, hash = 'sha256'): string {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${part(header)}.${part(payload)}`;
  return `${input}.${createHmac(hash, secret).update(input).digest('base64url')}`;
}

describe('session tokens', () => {
  const sessions = createSessions({ secret: TEST_SECRET, userRoles: { root: ['admin'] } });
  const now = () => Math.floor(Date.now() / 1000);
  const hs256 = { alg: 'HS256', typ: 'JWT' };

  async function issued(): Promise<string> {
    const app = new Hono().post('/login', (c) => c.text(sessions.issue(c, { username: 'root', firstName: 'R', lastName: '' })));
    return (await app.request('/login', { method: 'POST' })).text();
  }

  it('reads what it issued, synchronously, with roles from configuration', async () => {
    const user = sessions.read(await issued());
    expect(user).toEqual({ username: 'root', firstName: 'R', lastName: '', roles: ['admin'] });
  });

  it('reads a token signed before the switch from hono/jwt (sessions survive the upgrade)', async () => {
    const token = await honoSign({ sub: 'root', fn: '', ln: '', iat: now(), exp: now() + 60 }, TEST_SECRET, 'HS256');
    expect(sessions.read(token)?.username).toBe('root');
  });

  it('reads as a guest every token it did not issue or no longer accepts', async () => {
    const good = await issued();
    const [h, p, s] = good.split('.') as [string, string, string];
    const valid = { sub: 'root', iat: now(), exp: now() + 60 };
    const bad: Record<string, string> = {
      'alg none, no signature': `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${p}.`,
      'alg none, the real signature': `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${p}.${s}`,
      'HS512 with our secret': forge({ alg: 'HS512', typ: 'JWT' }, valid, TEST_SECRET, 'sha512'),
      'payload altered': `${h}.${Buffer.from(JSON.stringify({ ...valid, sub: 'mallory' })).toString('base64url')}.${s}`,
      'signature altered': `${h}.${p}.${s.slice(0, 10)}${s[10] === 'A' ? 'B' : 'A'}${s.slice(11)}`,
      'signature re-padded': `${good}=`,
      'signature missing': `${h}.${p}.`,
      'wrong secret': forge(hs256, valid, 'another secret of at least 32 characters'),
      expired: forge(hs256, { ...valid, exp: now() - 1 }),
      'not yet valid': forge(hs256, { ...valid, nbf: now() + 60 }),
      'no expiry': forge(hs256, { sub: 'root', iat: now() }),
      'no subject': forge(hs256, { iat: now(), exp: now() + 60 }),
      'subject not a string': forge(hs256, { sub: 7, exp: now() + 60 }),
      'two parts': `${h}.${p}`,
      garbage: 'garbage',
    };
    for (const [what, token] of Object.entries(bad)) expect([what, sessions.read(token)]).toEqual([what, null]);
    expect(sessions.read(forge(hs256, valid))?.username).toBe('root'); // the forger itself is right
  });
});
