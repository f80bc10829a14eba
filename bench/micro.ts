/**
 * Micro-benchmarks of single steps of a connect, to give each fix of issue 17 a price without the
 * noise of a whole handshake: the session read as `src/ws/auth/session.ts` does it (fast-jwt,
 * node:crypto's HMAC, synchronous) against the verify it replaced (hono/jwt over WebCrypto, key
 * imported once), that one 1 and 50 in flight (the bench's handshakes in flight: WebCrypto runs
 * its HMAC on libuv's thread pool, so its CPU is not all on the main thread). Prints wall-clock
 * and process CPU (all threads) per operation.
 *
 * @example
 * npx tsx bench/micro.ts            # about 10 s
 * taskset -c 1 npx tsx bench/micro.ts
 */
import { randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import { verify } from 'hono/jwt';
import { parse } from 'hono/utils/cookie';
import { createSessions } from '../src/ws/auth/session.ts';
import { encodeFrame } from '../src/ws/wire/messages.ts';
import { BENCH_SECRET } from './servers/ours.ts';

/** The headers of a bench client's upgrade request. */
const UPGRADE_HEADERS: Array<[string, string]> = [
  ['sec-websocket-version', '13'],
  ['sec-websocket-key', 'dGhlIHNhbXBsZSBub25jZQ=='],
  ['connection', 'Upgrade'],
  ['upgrade', 'websocket'],
  ['cookie', 'session=eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJiZW5jaCJ9.c2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2ln'],
  ['host', '127.0.0.1:3000'],
];

interface Result {
  name: string;
  wallUs: number;
  cpuUs: number;
}

/** Runs `op` `n` times, `inFlight` at once, after a warm-up; wall and CPU time per op. */
async function measure(name: string, n: number, inFlight: number, op: () => unknown): Promise<Result> {
  const run = async (count: number) => {
    let next = 0;
    const worker = async () => {
      while (next++ < count) await op();
    };
    await Promise.all(Array.from({ length: inFlight }, worker));
  };
  await run(Math.min(n, 2000));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await run(n);
  const wallUs = ((performance.now() - t0) * 1000) / n;
  const c = process.cpuUsage(cpu0);
  return { name, wallUs, cpuUs: (c.user + c.system) / n };
}

/** Same, for a synchronous op (no promise per call). */
function measureSync(name: string, n: number, op: () => unknown): Result {
  for (let i = 0; i < Math.min(n, 2000); i++) op();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) op();
  const wallUs = ((performance.now() - t0) * 1000) / n;
  const c = process.cpuUsage(cpu0);
  return { name, wallUs, cpuUs: (c.user + c.system) / n };
}

async function main(): Promise<void> {
  const sessions = createSessions({ secret: BENCH_SECRET, userRoles: {}, secureCookie: false });
  // A token as the bench's clients carry it: issued by the real sessions.
  const app = new Hono();
  app.post('/login', (c) => c.text(sessions.issue(c, { username: 'bench', firstName: '', lastName: '' })));
  const token = await (await app.request('/login', { method: 'POST' })).text();
  const cookie = `theme=dark; session=${token}; _ga=GA1.2.3.4`;
  // The verify of src/ws/auth/session.ts before issue 17, for comparison.
  const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(BENCH_SECRET), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  const webCryptoRead = async (t: string) => ((await verify(t, key, 'HS256').catch(() => null)) ? 'bench' : null);
  if (sessions.read(token)?.username !== 'bench' || (await webCryptoRead(token)) !== 'bench') throw new Error('the two reads disagree');
  const forged = `${token.slice(0, -2)}AA`;
  if (sessions.read(forged) !== null || (await webCryptoRead(forged)) !== null) throw new Error('a forged token was accepted');

  const n = Number(process.env.MICRO_N ?? 20_000);
  const results: Result[] = [
    measureSync('session read, fast-jwt, node:crypto HMAC, sync (src/ws/auth/session.ts)', n, () => sessions.read(token)),
    await measure('before issue 17: hono/jwt verify + WebCrypto, 1 in flight', n, 1, () => webCryptoRead(token)),
    await measure('before issue 17: hono/jwt verify + WebCrypto, 50 in flight', n, 50, () => webCryptoRead(token)),
    measureSync('cookie parse (hono/utils/cookie, 3 cookies)', n, () => parse(cookie, 'session')),
    // What @hono/node-server's createUpgradeRequest builds for every upgrade (a WHATWG Request, its Headers, an AbortSignal).
    measureSync('WHATWG Request of an upgrade (as @hono/node-server builds it)', n, () => {
      const headers = new Headers();
      for (const [k, v] of UPGRADE_HEADERS) headers.append(k, v);
      return new Request('http://127.0.0.1:3000/api/1/ws/bench/r1', { headers });
    }),
    measureSync('randomUUID (clientId)', n, () => randomUUID()),
    measureSync('encodeFrame(welcome) (src/ws/wire/messages.ts)', n, () =>
      encodeFrame('welcome', { clientId: randomUUID(), path: '/api/1/ws/bench/r1', ctx: { username: 'bench', roles: [], firstName: '', lastName: '', initials: 'BE', params: { room: 'r1' } }, replay: { seq: 0, epoch: '' } }),
    ),
  ];
  console.log(`| step | wall µs/op | process CPU µs/op (all threads) |\n| --- | --- | --- |`);
  for (const r of results) console.log(`| ${r.name} | ${r.wallUs.toFixed(1)} | ${r.cpuUs.toFixed(1)} |`);
}

await main();
