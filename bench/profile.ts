/**
 * Reads a V8 CPU profile (`npm run bench -- --profile-window`, or `--cpu-prof`) and says where the
 * main thread's time went: by step of the connect path (`--steps`, the default), or the functions
 * with the most self time (`--top=N`).
 *
 * A sample belongs to the step of the innermost frame on its stack that a rule names, so time
 * spent in a library or in Node's internals counts for the code of ours (or the library's) that
 * called it; samples that no rule claims fall back to the infrastructure rules (HTTP parsing,
 * TCP), then to "other". After an `await`, V8 records the resumed async function as the root of
 * the stack, so a middleware's continuation is attributed to that middleware, not to its caller.
 *
 * @example
 * npx tsx bench/profile.ts bench/results/profiles/idle-ours-....cpuprofile --connects=5000
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

type Rule = [step: string, matches: (f: CallFrame) => boolean];

const inFile = (...parts: string[]) => (f: CallFrame) => parts.some((p) => f.url.includes(p));
const named = (re: RegExp, ...parts: string[]) => (f: CallFrame) => re.test(f.functionName) && (parts.length === 0 || parts.some((p) => f.url.includes(p)));
const ASYNC_HOOKS = new Set(['promiseInitHook', 'promiseBeforeHook', 'promiseAfterHook', 'promiseResolveHook', '_propagate', 'emitInitNative', 'emitInitScript', 'lookupPublicResource', 'executionAsyncResource']);

/** The steps of a connect, innermost code first. Order matters only within one frame. */
export const CONNECT_STEPS: Rule[] = [
  ['bench control channel', inFile('bench/servers/control.ts')],
  ['session verify (fast-jwt, node:crypto HMAC)', inFile('node_modules/fast-jwt/')],
  ['session middleware (cookie parse, the rest)', inFile('src/ws/auth/session.ts', 'hono/dist/helper/cookie', 'hono/dist/utils/cookie')],
  ['onCreate', (f) => /onCreate|allowRoom/.test(f.functionName) && (f.url.includes('src/ws/auth/access.ts') || f.url.includes('bench/servers/ours.ts'))],
  ['access', named(/^access/, 'src/ws/auth/access.ts')],
  ['admission guard, origin, client IP', inFile('src/ws/upgrade/admission.ts', 'src/ws/safety/origin.ts', 'src/ws/safety/client-ip.ts', 'src/ws/safety/token-bucket.ts', 'src/ws/safety/keyed-buckets.ts')],
  ['async context (AsyncLocalStorage promise hooks)', (f) => (f.url === 'node:internal/async_hooks' || f.url.includes('async_local_storage')) && ASYNC_HOOKS.has(f.functionName)],
  ['broadcast scope, correlation (AsyncLocalStorage)', (f) => f.url.includes('src/ws/live/broadcast-scope.ts') || f.url.includes('src/ws/observe/correlation.ts') || named(/^restBroadcastScope/, 'src/ws/live/broadcast-scope.ts')(f)],
  ['params (zod)', inFile('node_modules/zod/')],
  ['presence add', inFile('src/ws/presence/')],
  ['replay head (broker.head)', inFile('src/ws/broker/', 'src/ws/replay/')],
  ['welcome: encode, frame, write', inFile('src/ws/wire/messages.ts', 'src/ws/wire/framing.ts', 'src/ws/safety/send.ts', 'ws/lib/sender.js', 'src/ws/broker/envelope.ts')],
  ['metrics (events to prom-client)', inFile('src/metrics.ts', 'prom-client/')],
  ['open: join, namespace, channels, events (connection.ts, hub/)', inFile('src/ws/connection.ts', 'src/ws/hub/', 'src/ws/live/live-namespace.ts', 'src/ws/events.ts')],
  ['namespace handler: ctx, Connection, stand-in upgrade (upgrade/pipeline.ts)', inFile('src/ws/upgrade/pipeline.ts', 'src/ws/realtime.ts', 'src/ws/ctx.ts', 'src/ws/upgrade/detached.ts', 'src/ws/upgrade/sockets.ts')],
  ['heartbeat, pings', inFile('src/ws/safety/heartbeat.ts', 'src/ws/safety/pings.ts', 'src/ws/safety/http-connections.ts')],
  ['Hono dispatch (compose, router, context)', inFile('hono/dist/')],
  ['adapter: WHATWG Request/Headers/URL, upgrade glue (@hono/node-server)', inFile('@hono/node-server/', 'node:internal/deps/undici', 'node:internal/url', 'node:internal/abort_controller')],
  ['ws: handshake, WebSocket setup', inFile('ws/lib/')],
  ['raw ws bench server (rooms, welcome)', inFile('bench/servers/raw-ws.ts')],
];

/** What is left to Node's own layers once no step above claims a sample. */
const INFRASTRUCTURE: Rule[] = [
  ['HTTP parse, TCP accept and writes (node:_http_*, node:net, streams)', inFile('node:_http_', 'node:net', 'node:internal/streams', 'node:stream', 'node:internal/stream_base_commons')],
  ['timers, ticks, events (unattributed)', inFile('node:internal/timers', 'node:internal/process/task_queues', 'node:events')],
];

export interface Breakdown {
  totalMs: number;
  idleMs: number;
  steps: Array<{ step: string; ms: number }>;
}

/** Attributes every sample of `profile` to a step. */
export function breakdown(profile: CpuProfile, rules: Rule[] = CONNECT_STEPS): Breakdown {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const timeOf = new Map<number, number>();
  profile.samples.forEach((id, i) => timeOf.set(id, (timeOf.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const stepOfNode = new Map<number, string>();
  const classify = (id: number): string => {
    const leaf = byId.get(id)!.callFrame.functionName;
    if (leaf === '(idle)') return '(idle)';
    if (leaf === '(garbage collector)') return 'GC';
    if (leaf === '(program)') return '(program: native, unattributed)';
    for (const set of [rules, INFRASTRUCTURE]) {
      for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
        const frame = byId.get(cur)!.callFrame;
        for (const [step, matches] of set) if (matches(frame)) return step;
      }
    }
    return 'other';
  };
  const ms = new Map<string, number>();
  let total = 0;
  for (const [id, us] of timeOf) {
    let step = stepOfNode.get(id);
    if (step === undefined) stepOfNode.set(id, (step = classify(id)));
    ms.set(step, (ms.get(step) ?? 0) + us / 1000);
    total += us / 1000;
  }
  const idleMs = ms.get('(idle)') ?? 0;
  ms.delete('(idle)');
  return { totalMs: total, idleMs, steps: [...ms].map(([step, v]) => ({ step, ms: v })).sort((a, b) => b.ms - a.ms) };
}

/** The functions with the most self time: `[label, ms]`. */
export function topSelf(profile: CpuProfile, n: number): Array<[string, number]> {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const f = byId.get(id)!.callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/(src|bench)\//, '$1/')}:${f.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  });
  return [...self].sort((a, b) => b[1] - a[1]).slice(0, n);
}

function main(): void {
  const args = process.argv.slice(2);
  const files = args.filter((a) => !a.startsWith('--'));
  const opt = new Map(args.filter((a) => a.startsWith('--')).map((a) => a.slice(2).split('=') as [string, string | undefined]));
  if (files.length === 0) {
    console.error('usage: npx tsx bench/profile.ts FILE.cpuprofile [--connects=N] [--top=N]');
    process.exit(2);
  }
  const per = Number(opt.get('connects') ?? 0);
  for (const file of files) {
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    const { totalMs, idleMs, steps } = breakdown(profile);
    const busy = totalMs - idleMs;
    console.log(`\n${file}\nwindow ${totalMs.toFixed(0)} ms, busy ${busy.toFixed(0)} ms (${((busy / totalMs) * 100).toFixed(0)}%)${per ? `, ${per} connects: ${((busy * 1000) / per).toFixed(0)} µs busy per connect` : ''}\n`);
    console.log(`| step | ms | % of busy |${per ? ' µs/connect |' : ''}`);
    console.log(`| --- | --- | --- |${per ? ' --- |' : ''}`);
    for (const { step, ms } of steps) {
      console.log(`| ${step} | ${ms.toFixed(0)} | ${((ms / busy) * 100).toFixed(1)} |${per ? ` ${((ms * 1000) / per).toFixed(1)} |` : ''}`);
    }
    if (opt.has('top')) {
      console.log('\nself time:');
      for (const [label, ms] of topSelf(profile, Number(opt.get('top') || 30))) console.log(`${ms.toFixed(1).padStart(9)} ms  ${label}`);
    }
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\/bench\//, '/bench/'))) main();
