/**
 * Every REST error of the app has one shape, `{ error: "a sentence", issues?: [{ path, message }] }`:
 * zod failures of every route, bad JSON, unknown routes, the metrics token, a handler that throws.
 */
import { Hono } from 'hono';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { buildApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/log.ts';
import type { AppEnv } from '../src/ws/types.ts';
import { TEST_SECRET } from './helpers.ts';

const METRICS_TOKEN = 'metrics-token-0123456789';
const { app, rt } = buildApp(
  { ...loadConfig({ METRICS_TOKEN }), sessionSecret: TEST_SECRET },
  { logger: createLogger('silent'), routes: () => [new Hono<AppEnv>().get('/api/1/boom', () => Promise.reject(new Error('secret detail')))] },
);
afterAll(() => rt.close());

const RestError = z.strictObject({
  error: z.string().min(8),
  issues: z.array(z.strictObject({ path: z.string(), message: z.string().min(1) })).min(1).optional(),
});

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await app.request(path, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const json = (await res.json()) as Record<string, unknown>;
  return { status: res.status, json, res };
}

async function signedIn(): Promise<Record<string, string>> {
  const res = await app.request('/api/1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"username":"ada"}' });
  return { cookie: res.headers.get('set-cookie')!.split(';')[0]! };
}

describe('REST errors', () => {
  it('answer a refused sign-in with the sentence and the issue, not raw zod output', async () => {
    const { status, json } = await call('POST', '/api/1/auth/login', { username: 'bad name!' });
    expect(status).toBe(400);
    expect(json).toEqual({
      error: 'invalid request body: username: 1-32 letters, digits, _ . or -, starting with a letter or digit',
      issues: [{ path: 'username', message: '1-32 letters, digits, _ . or -, starting with a letter or digit' }],
    });
  });

  it('have the same shape on every route that validates', async () => {
    const cookie = await signedIn();
    const cases: Array<[string, string, unknown, Record<string, string>, string]> = [
      ['POST', '/api/1/auth/login', {}, {}, 'invalid request body: username: a username is required'],
      ['POST', '/api/1/rooms/Berlin/messages', {}, {}, 'invalid request body: text: a message needs its text'],
      ['POST', '/api/1/rooms/Berlin/messages', { text: '  ' }, {}, 'invalid request body: text: empty message'],
      ['GET', '/api/1/rooms/bad%20name', undefined, {}, 'invalid path parameter: roomName: room names are 1-40 letters, digits, _ or -, starting with a letter or digit'],
      ['POST', '/api/1/bubblemap', { title: '' }, cookie, 'invalid request body: title: a map needs a title'],
      ['POST', '/api/1/bubblemap', {}, cookie, 'invalid request body: title: a map needs a title'],
      ['GET', '/api/1/bubblemap/no%20such', undefined, cookie, 'invalid path parameter: mapId'],
      ['DELETE', '/api/1/bubblemap/no%20such', undefined, cookie, 'invalid path parameter: mapId'],
    ];
    for (const [method, path, body, headers, error] of cases) {
      const { status, json } = await call(method, path, body, headers);
      expect({ method, path, status }).toEqual({ method, path, status: 400 });
      expect(RestError.parse(json).error).toContain(error);
      expect(json.issues).toBeDefined();
    }
  });

  it('say that a body must be JSON, or that it is malformed', async () => {
    const form = await call('POST', '/api/1/auth/login', undefined, { 'content-type': 'application/x-www-form-urlencoded' });
    expect(form).toMatchObject({ status: 400, json: { error: 'expected a JSON body (content-type: application/json)' } });
    const broken = await call('POST', '/api/1/auth/login', '{nope');
    expect(broken).toMatchObject({ status: 400, json: { error: 'Malformed JSON in request body' } });
  });

  it('name an unknown route, and hide what a failing handler threw', async () => {
    expect(await call('GET', '/api/1/nothing')).toMatchObject({ status: 404, json: { error: 'no such route: GET /api/1/nothing' } });
    const boom = await call('GET', '/api/1/boom');
    expect(boom).toMatchObject({ status: 500, json: { error: 'the server failed to handle this request (it logged why)' } });
    expect(JSON.stringify(boom.json)).not.toContain('secret detail');
  });

  it('say what the metrics token must be, keeping the WWW-Authenticate challenge', async () => {
    const none = await call('GET', '/metrics');
    expect(none.status).toBe(401);
    expect(none.json).toEqual({ error: 'a bearer token is required: send the METRICS_TOKEN as Authorization: Bearer <token>' });
    expect(none.res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    const wrong = await call('GET', '/metrics', undefined, { authorization: 'Bearer wrong-token-0123456789' });
    expect(wrong).toMatchObject({ status: 401, json: { error: 'wrong bearer token: it must equal METRICS_TOKEN' } });
    expect(wrong.res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    const malformed = await call('GET', '/metrics', undefined, { authorization: 'Basic abc' });
    expect(malformed).toMatchObject({ status: 400, json: { error: expect.stringMatching(/^malformed Authorization header/) } });
    expect((await app.request('/metrics', { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).status).toBe(200);
  });

  it('keep every body in the one shape', async () => {
    for (const [method, path, body] of [
      ['POST', '/api/1/auth/login', { username: '' }],
      ['GET', '/api/1/nothing', undefined],
      ['GET', '/metrics', undefined],
      ['GET', '/api/1/bubblemap', undefined],
    ] as const) {
      expect(RestError.safeParse((await call(method, path, body)).json).success, `${method} ${path}`).toBe(true);
    }
  });
});
