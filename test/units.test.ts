import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.ts';
import { buildCtx, initialsOf, publicCtx, systemCtx } from '../src/ws/ctx.ts';
import { unwrapEnvelope, wrapEnvelope } from '../src/ws/envelope.ts';
import { parseClientFrame } from '../src/ws/protocol.ts';
import { closeReason } from '../src/ws/refusal.ts';

describe('config', () => {
  it('has defaults that need no environment', () => {
    expect(loadConfig({})).toMatchObject({ port: 3000, redisUrl: undefined, limits: { maxPayload: 65536 } });
  });

  it('names the variable and what it expects', () => {
    expect(() => loadConfig({ PORT: 'eighty' })).toThrow(/PORT: expected a number/);
    expect(() => loadConfig({ SESSION_SECRET: 'short' })).toThrow(/SESSION_SECRET: expected at least 32/);
    expect(() => loadConfig({ USER_ROLES: 'alice' })).toThrow(ConfigError);
    expect(() => loadConfig({ REDIS_URL: 'http://x' })).toThrow(/REDIS_URL/);
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
