import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { clientIp } from '../../src/ws/safety/client-ip.ts';
import { InboundGate } from '../../src/ws/safety/inbound.ts';
import { nestsDeeperThan } from '../../src/ws/wire/json-depth.ts';
import { DEFAULT_LIMITS, resolveLimits } from '../../src/ws/safety/limits.ts';
import { originAllowed } from '../../src/ws/safety/origin.ts';
import { TokenBucket } from '../../src/ws/safety/token-bucket.ts';

describe('limits configuration', () => {
  it('defaults every limit', () => {
    expect(loadConfig({}).limits).toEqual(DEFAULT_LIMITS);
    expect(loadConfig({}).shutdown).toEqual({ spreadMs: 5000, timeoutMs: 10_000 });
  });

  it('reads every variable', () => {
    const config = loadConfig({
      WS_MAX_CONNECTIONS: '5',
      WS_MESSAGE_RATE: '0',
      TRUST_PROXY: '2',
      ALLOWED_ORIGINS: 'https://a.example, http://localhost:5173',
      SHUTDOWN_SPREAD_MS: '1000',
    });
    expect(config.limits).toMatchObject({
      maxConnections: 5,
      messageRate: 0,
      trustProxy: 2,
      allowedOrigins: ['https://a.example', 'http://localhost:5173'],
    });
    expect(config.shutdown.spreadMs).toBe(1000);
  });

  it('reads the limits of issue 13, and derives the TCP caps from the socket limits', () => {
    const config = loadConfig({
      WS_MAX_FRAGMENTS: '16',
      WS_MAX_PENDING_PONGS: '10',
      WS_ADMISSION_RATE_PER_IP: '5',
      WS_ADMISSION_BURST_PER_IP: '10',
      HTTP_MAX_BODY_BYTES: '4096',
      HTTP_WRITE_RATE: '2',
      HTTP_WRITE_BURST: '4',
      HTTP_HEADERS_TIMEOUT_MS: '5000',
      WS_MAX_CONNECTIONS: '50000',
      WS_MAX_CONNECTIONS_PER_IP: '500',
      BUBBLEMAP_MAX_MAPS_PER_USER: '3',
    });
    expect(config.limits).toMatchObject({
      maxFragments: 16,
      maxPendingPongs: 10,
      admissionRatePerIp: 5,
      admissionBurstPerIp: 10,
      httpMaxBodyBytes: 4096,
      httpWriteRate: 2,
      httpWriteBurst: 4,
      httpHeadersTimeoutMs: 5000,
      httpMaxConnections: 52_000,
      httpMaxConnectionsPerIp: 600,
    });
    expect(config.bubblemapMaxMapsPerUser).toBe(3);
    expect(() => loadConfig({ HTTP_MAX_CONNECTIONS: '100' })).toThrow(/HTTP_MAX_CONNECTIONS="100": must be at least WS_MAX_CONNECTIONS/);
  });

  it.each([
    ['WS_MAX_CONNECTIONS', '0', 'WS_MAX_CONNECTIONS'],
    ['WS_MAX_BUFFERED_BYTES', '1k', 'WS_MAX_BUFFERED_BYTES="1k": expected a whole number from 1024 to 1073741824'],
    ['WS_PING_INTERVAL_MS', '-1', 'WS_PING_INTERVAL_MS'],
    ['TRUST_PROXY', 'true', 'TRUST_PROXY="true": expected a whole number from 0 to 10'],
    ['ALLOWED_ORIGINS', 'evil.example', 'ALLOWED_ORIGINS="evil.example": expected origins like'],
    ['WS_MAX_DEPTH', '1.5', 'WS_MAX_DEPTH="1.5": expected a whole number'],
  ])('refuses %s=%s naming the variable', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });

  it('refuses a nonsensical limit given in code', () => {
    expect(() => resolveLimits({ maxConnections: Number.NaN })).toThrow(/maxConnections/);
  });
});

describe('client address', () => {
  const req = (peer: string, xff?: string) =>
    ({ socket: { remoteAddress: peer }, headers: xff === undefined ? {} : { 'x-forwarded-for': xff } }) as unknown as IncomingMessage;

  it('takes the peer without trust-proxy, and the entry left of the trusted hops with it', () => {
    expect(clientIp(req('10.0.0.1', '1.1.1.1'), 0)).toBe('10.0.0.1');
    expect(clientIp(req('10.0.0.1', '9.9.9.9, 1.1.1.1'), 1)).toBe('1.1.1.1');
    expect(clientIp(req('10.0.0.1', '9.9.9.9, 1.1.1.1, 10.0.0.2'), 2)).toBe('1.1.1.1');
    expect(clientIp(req('10.0.0.1', '1.1.1.1'), 5)).toBe('1.1.1.1');
    expect(clientIp(req('10.0.0.1'), 1)).toBe('10.0.0.1');
  });
});

describe('origin', () => {
  it('allows no origin, the same origin (scheme, host and port) and listed origins only', () => {
    expect(originAllowed(undefined, 'https://a.example', [])).toBe(true);
    expect(originAllowed('https://a.example', 'https://a.example', [])).toBe(true);
    expect(originAllowed('https://a.example:443', 'https://a.example', [])).toBe(true);
    expect(originAllowed('https://a.example', 'http://a.example', [])).toBe(false);
    expect(originAllowed('http://a.example', 'https://a.example', [])).toBe(false);
    expect(originAllowed('https://a.example:8443', 'https://a.example', [])).toBe(false);
    expect(originAllowed('https://evil.example', 'https://a.example', [])).toBe(false);
    expect(originAllowed('https://b.example', 'https://a.example', ['https://b.example'])).toBe(true);
    expect(originAllowed('null', 'https://a.example', [])).toBe(false);
    expect(originAllowed('https://any.example', undefined, ['*'])).toBe(true);
  });
});

describe('json depth', () => {
  it('counts nesting outside strings, escapes included', () => {
    expect(nestsDeeperThan('[[1]]', 2)).toBe(false);
    expect(nestsDeeperThan('[[[1]]]', 2)).toBe(true);
    expect(nestsDeeperThan('{"a":"[[[[\\"[[["}', 1)).toBe(false);
    expect(nestsDeeperThan('[{},{},[]]', 2)).toBe(false);
  });
});

describe('token buckets', () => {
  it('refills from the clock up to the capacity', () => {
    let now = 0;
    const bucket = new TokenBucket(2, 3, () => now);
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, true, false]);
    now += 500;
    expect([bucket.take(), bucket.take()]).toEqual([true, false]);
    now += 60_000;
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, true, false]);
    expect(() => new TokenBucket(0, 1)).toThrow(RangeError);
  });

  it('lets a connection overshoot briefly but not abuse', () => {
    const gate = new InboundGate({ messageRate: 0.001, messageBurst: 2, maxRejected: 2, maxPendingMessages: 10 });
    const admit = (pending: number) => gate.admit(pending);
    expect([admit(0), admit(0), admit(0), admit(0), admit(0)]).toEqual(['ok', 'ok', 'limited', 'limited', 'abusive']);
    const unlimited = new InboundGate({ messageRate: 0, messageBurst: 1, maxRejected: 1, maxPendingMessages: 2 });
    const off = (pending: number) => unlimited.admit(pending);
    expect([off(0), off(1), off(0)]).toEqual(['ok', 'ok', 'ok']);
    // A full queue limits without counting towards abuse.
    expect([off(2), off(2), off(2), off(1)]).toEqual(['limited', 'limited', 'limited', 'ok']);
  });
});
