/**
 * What `npm start` (src/app.ts) says and does in the first minute: sessions that survive a
 * restart in development, production refused without SESSION_SECRET, one line for a start-up it
 * cannot complete, and a banner with the real address, the mode and the pages.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/log.ts';
import { listen } from '../src/server.ts';
import { startupFailure, startupLines } from '../src/startup.ts';
import { startApp, type TestApp } from './helpers.ts';
import { killAll, Program } from './process.ts';
import { describeRedis, REDIS_URL, uniquePrefix } from './redis.ts';

const ROOT = join(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'hns-startup-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => killAll());

/** src/app.ts as `npm start` runs it, in an environment with only what the test gives. */
function start(env: Record<string, string>): Program {
  return Program.node(['--import', 'tsx', 'src/app.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: '0', HOST: '127.0.0.1', LOG_FORMAT: 'json', ...env },
  });
}

async function login(origin: string, username: string): Promise<string> {
  const res = await fetch(`${origin}/api/1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username }) });
  expect(res.status).toBe(200);
  return res.headers.get('set-cookie')!.split(';')[0]!;
}

const me = async (origin: string, cookie: string) => ((await (await fetch(`${origin}/api/1/auth/me`, { headers: { cookie } })).json()) as { user: { username: string } | null }).user;

describe('development sessions', () => {
  it('survive a restart: the generated secret is kept in a file only its owner reads', async () => {
    const file = join(dir, 'dev', 'session-secret');
    let app = start({ DEV_SECRET_FILE: file });
    expect((await app.logLine('SESSION_SECRET is not set')).msg).toContain(`development secret created in ${file}`);
    const { port } = await app.logLine('listening');
    const origin = `http://127.0.0.1:${port}`;
    const cookie = await login(origin, 'ada');
    expect(await me(origin, cookie)).toMatchObject({ username: 'ada' });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'dev')).mode & 0o777).toBe(0o700);
    await app.stop();

    app = start({ DEV_SECRET_FILE: file });
    expect((await app.logLine('SESSION_SECRET is not set')).msg).toContain(`development secret kept in ${file}`);
    const again = `http://127.0.0.1:${(await app.logLine('listening')).port}`;
    expect(await me(again, cookie)).toMatchObject({ username: 'ada' });
    await app.stop();
  });

  it('are refused in production without SESSION_SECRET, in one line naming it', async () => {
    const app = start({ NODE_ENV: 'production', DEV_SECRET_FILE: join(dir, 'never') });
    expect(await app.exited).toEqual({ code: 1, signal: null });
    expect(app.stderr).toEqual(['invalid configuration: SESSION_SECRET (not set): required when NODE_ENV=production: 32 or more random characters, the same on every instance']);
    expect(() => statSync(join(dir, 'never'))).toThrow();
  });
});

describe('start-up', () => {
  let taken: Server | undefined;
  afterEach(() => new Promise<void>((done) => (taken ? taken.close(() => done()) : done())));

  async function takePort(): Promise<number> {
    taken = createServer();
    await new Promise<void>((resolve) => taken!.listen(0, '127.0.0.1', resolve));
    return (taken.address() as { port: number }).port;
  }

  it('says where it listens, how it runs and where the pages are; /health names the mode', async () => {
    const app = start({ DEV_SECRET_FILE: join(dir, 'banner') });
    const listening = await app.logLine('listening');
    const origin = `http://127.0.0.1:${listening.port}`;
    expect(listening.msg).toBe(`listening on 127.0.0.1, port ${listening.port}: ${origin}`);
    expect((await app.logLine('mode')).msg).toBe('mode: in memory, one instance (set REDIS_URL or REDIS_CLUSTER_NODES to run several)');
    expect((await app.logLine('pages')).msg).toBe(`pages: Dynamic Rooms ${origin}/ · Bubble Map ${origin}/bubblemap.html`);
    expect(await (await fetch(`${origin}/health`)).json()).toMatchObject({ status: 'ok', mode: 'memory' });
  });

  it('stops in one line, without a stack, when the port is taken', async () => {
    const port = await takePort();
    const app = start({ PORT: String(port), DEV_SECRET_FILE: join(dir, 'taken') });
    expect(await app.exited).toEqual({ code: 1, signal: null });
    expect(app.stderr).toEqual([`cannot start: 127.0.0.1 port ${port} is already in use (another server, or this one still running?); stop it, or set PORT to a free port`]);
  });

  it('has one line for each listen error a user can fix', async () => {
    const built = buildApp({ ...loadConfig({}), sessionSecret: 'x'.repeat(32) }, { logger: createLogger('silent') });
    const failure = (port: number, hostname: string) =>
      listen(built, { port, hostname }).then(
        () => expect.fail('listened'),
        (err: unknown) => startupFailure(err, { port, host: hostname }),
      );
    const port = await takePort();
    expect(await failure(port, '127.0.0.1')).toMatch(/^cannot start: 127\.0\.0\.1 port \d+ is already in use/);
    // `.invalid` never resolves (RFC 2606); 192.0.2.1 is a documentation address, on no machine.
    expect(await failure(0, 'nosuch.invalid')).toBe(
      'cannot start: HOST="nosuch.invalid" is not a host name this machine can resolve; set HOST to an address of this machine (127.0.0.1 for this machine only), or leave it unset to listen on every interface',
    );
    expect(await failure(0, '192.0.2.1')).toMatch(/^cannot start: HOST="192\.0\.2\.1" is not an address of this machine/);
    expect(startupFailure(new Error('anything else'), { port: 1, host: undefined })).toBeUndefined();
    await built.rt.close();
  });

  it('says "every interface" and localhost without HOST, and names Redis and its prefix', () => {
    const memory = startupLines({ redisUrl: undefined, redisPrefix: 'hns:' }, { address: { address: '::', family: 'IPv6', port: 3000 }, host: undefined });
    expect(memory.map(([, msg]) => msg)).toEqual([
      'listening on every interface, port 3000: http://localhost:3000',
      'mode: in memory, one instance (set REDIS_URL or REDIS_CLUSTER_NODES to run several)',
      'pages: Dynamic Rooms http://localhost:3000/ · Bubble Map http://localhost:3000/bubblemap.html',
    ]);
    const redis = startupLines({ redisUrl: 'redis://:pw@cache.internal:6380/2', redisPrefix: 'app:' }, { address: { address: '0.0.0.0', family: 'IPv4', port: 80 }, host: '0.0.0.0' });
    expect(redis[0]![1]).toBe('listening on every IPv4 interface, port 80: http://localhost:80');
    expect(redis[1]).toEqual([{ mode: 'redis' }, 'mode: Redis at cache.internal:6380 db 2, key prefix "app:": instances with the same REDIS_URL and REDIS_PREFIX serve the same namespaces']);
    expect(JSON.stringify(redis)).not.toContain('pw');
    const cluster = startupLines(
      { redisUrl: undefined, redisClusterNodes: [{ host: 'r1.internal', port: 7000 }, { host: '::1', port: 7001 }], redisPrefix: 'hns:' },
      { address: { address: '::', family: 'IPv6', port: 3000 }, host: undefined },
    );
    expect(cluster[1]).toEqual([{ mode: 'cluster' }, 'mode: Redis Cluster from r1.internal:7000, [::1]:7001, key prefix "hns:": instances with the same REDIS_CLUSTER_NODES cluster and REDIS_PREFIX serve the same namespaces']);
  });
});

describeRedis('/health on Redis', () => {
  let app: TestApp | undefined;
  afterEach(() => app?.close());

  it('names the mode', async () => {
    app = await startApp({ redisUrl: REDIS_URL, redisPrefix: uniquePrefix() });
    expect(await (await fetch(`${app.url}/health`)).json()).toMatchObject({ status: 'ok', mode: 'redis' });
  });
});
