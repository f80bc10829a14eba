import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.ts';
import { buildCtx, initialsOf, publicCtx, systemCtx } from '../src/ws/ctx.ts';
import { unwrapEnvelope, wrapEnvelope } from '../src/ws/broker/envelope.ts';
import { parseClientFrame } from '../src/ws/wire/messages.ts';
import { closeReason } from '../src/ws/wire/framing.ts';

describe('config', () => {
  it('has defaults that need no environment', () => {
    expect(loadConfig({})).toMatchObject({ port: 3000, redisUrl: undefined, limits: { maxPayload: 65536 } });
  });

  it('names the variable and what it expects', () => {
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow('PORT="eighty": expected a whole number from 0 to 65535');
    expect(() => loadConfig({ USER_ROLES: 'alice' })).toThrow(ConfigError);
    expect(() => loadConfig({ REDIS_URL: 'http://x' })).toThrow(/REDIS_URL/);
  });

  it.each([
    // The values of the first hour's report, each with the whole line it now gets.
    [{ PORT: '99999' }, 'PORT="99999": expected a whole number from 0 to 65535'],
    [{ WS_MAX_PAYLOAD: '-1' }, 'WS_MAX_PAYLOAD="-1": expected a whole number from 128 to 16777216'],
    [{ WS_MAX_PAYLOAD: '100' }, 'WS_MAX_PAYLOAD="100": expected a whole number from 128 to 16777216'],
    [{ PRESENCE_TTL_MS: '0' }, 'PRESENCE_TTL_MS="0": expected a whole number from 300 to 600000'],
    [{ TRUST_PROXY: 'true' }, 'TRUST_PROXY="true": expected a whole number from 0 to 10'],
    [{ WS_MAX_DEPTH: '1.5' }, 'WS_MAX_DEPTH="1.5": expected a whole number from 2 to 1000'],
    [{ COOKIE_SECURE: 'maybe' }, 'COOKIE_SECURE="maybe": expected true or false (or 1/0, yes/no)'],
    [{ LOG_FORMAT: 'xml' }, 'LOG_FORMAT="xml": expected one of auto, json, pretty'],
    [{ REDIS_PREFIX: 'x'.repeat(65) }, `REDIS_PREFIX="${'x'.repeat(65)}": expected 1 to 64 characters`],
    [{ METRICS: 'token' }, 'METRICS_TOKEN (not set): required when METRICS=token'],
    [{ REDIS_CLUSTER_NODES: 'redis1' }, 'REDIS_CLUSTER_NODES="redis1": expected host:port nodes, comma separated (bad entry "redis1")'],
    [{ REDIS_CLUSTER_NODES: 'redis1:7000,redis2:99999' }, 'REDIS_CLUSTER_NODES="redis1:7000,redis2:99999": expected host:port nodes, comma separated (bad entry "redis2:99999")'],
    [{ REDIS_CLUSTER_NODES: ' , ' }, 'REDIS_CLUSTER_NODES=" , ": expected host:port nodes, comma separated (none given)'],
    [
      { REDIS_CLUSTER_NODES: 'redis1:7000', REDIS_URL: 'redis://redis1:6379' },
      'REDIS_CLUSTER_NODES="redis1:7000": set together with REDIS_URL: set REDIS_URL for one Redis, or REDIS_CLUSTER_NODES for a Redis Cluster, not both',
    ],
    [{ REDIS_CLUSTER_NODES: 'redis1:7000', REDIS_PREFIX: 'app{1}:' }, 'REDIS_PREFIX="app{1}:": may hold no { or } with REDIS_CLUSTER_NODES: a hash tag in it would put every namespace in one cluster slot'],
  ])('refuses %o in one line: the variable, the value and what it accepts', (env, line) => {
    expect(() => loadConfig(env)).toThrow(new ConfigError(`invalid configuration: ${line}`));
  });

  it('shows no secret and no password it refuses', () => {
    expect(() => loadConfig({ SESSION_SECRET: 'hunter2' })).toThrow(new ConfigError('invalid configuration: SESSION_SECRET (7 characters, not shown): expected at least 32 characters'));
    expect(() => loadConfig({ METRICS_TOKEN: 'hunter2' })).toThrow(/METRICS_TOKEN \(7 characters, not shown\)/);
    expect(() => loadConfig({ REDIS_URL: 'http://me:hunter2@redis' })).toThrow('REDIS_URL="http://me:***@redis": expected a redis:// or rediss:// URL');
  });

  it('lists every bad variable, one line each', () => {
    expect(() => loadConfig({ PORT: '1e3', TRUST_PROXY: 'x' })).toThrow(
      new ConfigError('invalid configuration:\n- PORT="1e3": expected a whole number from 0 to 65535\n- TRUST_PROXY="x": expected a whole number from 0 to 10'),
    );
  });

  it('requires SESSION_SECRET in production, and only there', () => {
    expect(() => loadConfig({ NODE_ENV: 'production' })).toThrow(
      new ConfigError('invalid configuration: SESSION_SECRET (not set): required when NODE_ENV=production: 32 or more random characters, the same on every instance'),
    );
    expect(loadConfig({ NODE_ENV: 'production', SESSION_SECRET: 'x'.repeat(32) })).toMatchObject({ production: true });
    expect(loadConfig({ NODE_ENV: 'development' })).toMatchObject({ production: false, sessionSecret: undefined, devSecretFile: '.data/session-secret' });
  });

  it('reads the nodes of a Redis Cluster from REDIS_CLUSTER_NODES (host names, IPv4, bracketed IPv6)', () => {
    expect(loadConfig({ REDIS_CLUSTER_NODES: 'redis1:7000, 10.0.0.2:7001,[::1]:7002' })).toMatchObject({
      redisUrl: undefined,
      redisClusterNodes: [
        { host: 'redis1', port: 7000 },
        { host: '10.0.0.2', port: 7001 },
        { host: '::1', port: 7002 },
      ],
    });
    // A brace in the prefix harms nobody on one Redis.
    expect(loadConfig({ REDIS_URL: 'redis://r:6379', REDIS_PREFIX: 'app{1}:' }).redisPrefix).toBe('app{1}:');
  });

  it('parses roles from USER_ROLES', () => {
    expect(loadConfig({ USER_ROLES: 'alice:admin,editor; bob:editor' }).userRoles).toEqual({
      alice: ['admin', 'editor'],
      bob: ['editor'],
    });
  });
});

describe('ctx', () => {
  it('builds initials from names, else from the username', () => {
    expect(initialsOf('jdoe', 'John', 'Doe')).toBe('JD');
    expect(initialsOf('jdoe')).toBe('JD');
    expect(initialsOf('_x')).toBe('X');
  });

  it('has a system ctx and hides the IP from the client', () => {
    expect(systemCtx().username).toBe('_system');
    const ctx = buildCtx({ username: 'a', firstName: '', lastName: '', roles: ['r'] }, '10.0.0.1', { id: '1' });
    expect(ctx.ip).toBe('10.0.0.1');
    expect(publicCtx(ctx)).not.toHaveProperty('ip');
  });
});

describe('protocol', () => {
  it('parses a valid frame', () => {
    expect(parseClientFrame('{"type":"chat","data":{"text":"x"},"id":"1"}')).toEqual({
      ok: true,
      message: { type: 'chat', data: { text: 'x' }, id: '1' },
    });
  });

  it('never throws on garbage', () => {
    for (const text of ['', '{', 'undefined', '1e999', '{"type":"' + 'x'.repeat(100) + '"}', '{"type":"a","id":5}']) {
      expect(parseClientFrame(text).ok).toBe(false);
    }
  });
});

describe('envelope', () => {
  it('round-trips the header and the exact frame bytes', () => {
    const frame = Buffer.from('{"type":"chat","data":"line\\nbreak"}');
    const out = unwrapEnvelope(wrapEnvelope({ o: 'i1', x: 'c1' }, frame));
    expect(out?.header).toEqual({ o: 'i1', x: 'c1' });
    expect(out?.frame.equals(frame)).toBe(true);
  });

  it('drops malformed payloads', () => {
    expect(unwrapEnvelope(Buffer.from('no newline'))).toBeNull();
    expect(unwrapEnvelope(Buffer.from('{"x":1}\n{}'))).toBeNull();
    expect(unwrapEnvelope(Buffer.from('nope\n{}'))).toBeNull();
  });
});

describe('close reasons', () => {
  it('fit in 123 bytes', () => {
    expect(Buffer.byteLength(closeReason('é'.repeat(200)))).toBeLessThanOrEqual(123);
    expect(closeReason('short')).toBe('short');
  });
});
