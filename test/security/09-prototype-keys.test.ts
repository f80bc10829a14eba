/**
 * Item 9: user-supplied keys never index a plain object: users named like Object.prototype's
 * members sign in, connect and see their (empty) roles like anyone else.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { login, startApp, TestClient, type TestApp } from '../helpers.ts';

let app: TestApp;
beforeAll(async () => {
  app = await startApp({ userRoles: { alice: ['editor'] } });
});
afterAll(() => app.close());

describe('usernames that are Object.prototype keys (item 9)', () => {
  for (const username of ['constructor', 'hasOwnProperty', 'toString', 'valueOf', 'isPrototypeOf']) {
    it(`${username} signs in, connects and has no roles`, async () => {
      const cookie = await login(app, username);
      const me = await (await fetch(`${app.url}/api/1/auth/me`, { headers: { cookie } })).json();
      expect(me.user).toMatchObject({ username, roles: [] });
      const client = await TestClient.connect(app.wsUrl('/api/1/ws/hello-rooms/proto'), { cookie });
      expect(client.welcome.data.ctx).toMatchObject({ username, roles: [] });
      await client.close();
    });
  }

  it('USER_ROLES takes such names as plain keys', () => {
    const config = loadConfig({ USER_ROLES: '__proto__:admin;constructor:editor' });
    expect(Object.keys(config.userRoles)).toEqual(['__proto__', 'constructor']);
    expect(config.userRoles.constructor).toEqual(['editor']);
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  });
});
