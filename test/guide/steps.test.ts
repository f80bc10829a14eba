/**
 * Follows docs/guide/getting-started.md as a new user would, on a copy of the project in a
 * temporary folder: every block marked `<!-- step: name -->` is carried out as written (shell
 * blocks run with bash, code blocks are added where the page says), then the server is started
 * with the page's own commands and used as the page says. A step the page gets wrong (a missing
 * import, a command that does not run) fails here, not in a user's terminal.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkedFiles, codeBlocks, type CodeBlock } from '../../scripts/doc-snippets.ts';
import { TestClient } from '../helpers.ts';
import { killAll, Program } from '../process.ts';

const ROOT = join(import.meta.dirname, '../..');
const PAGE = 'docs/guide/getting-started.md';
const text = readFileSync(join(ROOT, PAGE), 'utf8');
const steps = new Map(codeBlocks(text).blocks.flatMap((b): Array<[string, CodeBlock]> => (b.step ? [[b.step, b]] : [])));

/** Every step this test knows how to follow; a page may use no other. */
const KNOWN = ['start', 'copy-lists', 'import-lists', 'mount-lists', 'connect', 'run-server'];

function step(name: string): string {
  const block = steps.get(name);
  if (!block) throw new Error(`${PAGE} has no <!-- step: ${name} --> block`);
  return block.code;
}

/** What a copy leaves out: what `npm install` and runs create, and the version control. */
const LEFT_OUT = new Set(['node_modules', '.git', '.data', 'test-artifacts', 'coverage', 'bench/results', 'public/client.js', 'public/client.js.map']);

/** The environment of a new user's terminal: none of the test runner's settings. */
function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8', PORT: '0', LOG_FORMAT: 'json', npm_config_update_notifier: 'false', npm_config_fund: 'false', ...extra };
  return env;
}

describe('getting started, followed step by step on a copy of the project', { timeout: 120_000 }, () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'hns-guide-'));
    cpSync(ROOT, dir, { recursive: true, filter: (src) => !LEFT_OUT.has(relative(ROOT, src)) });
    // Step 1's `npm install`, done once for the whole suite: the installed packages, shared.
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  });

  afterAll(async () => {
    await killAll();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('marks only steps this test follows, on this page only', () => {
    expect([...steps.keys()].filter((name) => !KNOWN.includes(name))).toEqual([]);
    expect(KNOWN.filter((name) => !steps.has(name))).toEqual([]);
    const elsewhere = checkedFiles(ROOT).filter((f) => !f.endsWith(PAGE) && codeBlocks(readFileSync(f, 'utf8')).blocks.some((b) => b.step));
    expect(elsewhere).toEqual([]);
  });

  it('1-3: the demo starts, the lists are added and mounted, and a client talks to them as shown', async () => {
    const start = step('start');
    expect(start).toMatch(/^npm install && npm start\b/);
    const run = start.replace(/^npm install && /, '');

    // Step 1: the demo as it ships.
    let server = Program.bash(run, { cwd: dir, env: userEnv() });
    const demo = await server.logLine('listening');
    expect((await fetch(`http://127.0.0.1:${demo.port}/`)).status).toBe(200);
    await server.stop();

    // Step 2: the lists copied in and mounted where the page says.
    const copy = Program.bash(step('copy-lists'), { cwd: dir, env: userEnv() });
    expect((await copy.exited).code).toBe(0);
    const appTs = join(dir, 'src/app.ts');
    let app = readFileSync(appTs, 'utf8');
    app = insertAfter(app, "import { roomsRoutes } from './routes/rooms.ts';", step('import-lists'));
    app = insertAfter(app, "app.route('/', roomsRoutes(rt));", step('mount-lists'));
    writeFileSync(appTs, app);

    server = Program.bash(run, { cwd: dir, env: userEnv() });
    const { port } = await server.logLine('listening');

    // Step 3: the wscat session, replayed with a real client: what it sends, what it gets.
    const session = step('connect').split('\n');
    const url = /wscat -c (\S+)/.exec(session[0]!)![1]!.replace('localhost:3000', `127.0.0.1:${port}`);
    expect(session[0]).toMatch(/^npx -y wscat /);
    // The first terminal, alone on a new list: what it sends, what it gets, in order.
    const first = await TestClient.open(url);
    for (const line of session.slice(1)) {
      const frame = JSON.parse(line.slice(2)) as Record<string, unknown>;
      if (line.startsWith('> ')) first.send(frame);
      else expect(await first.next()).toEqual(shapeOf(frame));
    }
    // "Connect the second terminal to the same list and add an item there: the first gets a
    // joined, then both get the item-added; a client of .../chores gets nothing."
    const chores = await TestClient.connect(url.replace('groceries', 'chores'));
    const second = await TestClient.connect(url);
    expect((await first.next()).type).toBe('joined');
    second.send({ type: 'item-add', data: { text: 'eggs' }, id: 'e' });
    for (const c of [first, second]) expect((await c.next('item-added')).data).toMatchObject({ text: 'eggs' });
    expect(await second.next('ack')).toMatchObject({ id: 'e' });
    expect(chores.unread('item-added')).toEqual([]);
    // The refusals the page names, with their codes and reasons.
    const refusals = [...text.matchAll(/`(\/api\/1\/ws\/lists\/[^`]+)` (?:closes at once )?with (\d{4}) `([^`]+)`/g)];
    expect(refusals).toHaveLength(2);
    for (const [, path, code, reason] of refusals) {
      const refused = await TestClient.open(`ws://127.0.0.1:${port}${path}`);
      expect(await refused.closed).toEqual({ code: Number(code), reason });
    }
    for (const c of [first, second, chores]) await c.close();
    await server.stop();
  });

  it('4: the server of its own runs as the page says, answers /health and stops cleanly on SIGTERM', async () => {
    // A terminal's shell outlives Ctrl-C and waits for the program; bash -c would die of the
    // group's signal, so the program takes its place (exec) and its exit status is seen.
    const lines = step('run-server').split('\n');
    const server = Program.bash([...lines.slice(0, -1), `exec ${lines.at(-1)}`].join('\n'), { cwd: dir, env: userEnv() });
    const line = await server.line((l) => l.startsWith('listening on '));
    const port = Number(/localhost:(\d+)/.exec(line)![1]);
    const health = await fetch(`http://127.0.0.1:${port}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const client = await TestClient.connect(`ws://127.0.0.1:${port}/api/1/ws/lists/groceries`);

    server.signal('SIGTERM');
    expect((await client.closed).code).toBe(1012);
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(server.lines).toContain('SIGTERM: shutting down');
    expect(server.stderr).toEqual([]);
  });
});

/** `source` with `lines` added after the line that contains `anchor`, at that line's indent. */
function insertAfter(source: string, anchor: string, lines: string): string {
  const all = source.split('\n');
  const at = all.findIndex((l) => l.includes(anchor));
  if (at < 0) throw new Error(`no line with ${anchor} in src/app.ts: the page's "next to" points nowhere`);
  const indent = /^\s*/.exec(all[at]!)![0];
  all.splice(at + 1, 0, ...lines.split('\n').map((l) => indent + l));
  return all.join('\n');
}

/** A frame as the page prints it, with what differs in every run (ids, epochs, elided text) left open. */
function shapeOf(value: unknown, key = ''): unknown {
  if (typeof value === 'string' && (value.includes('…') || key === 'epoch')) return expect.any(String);
  if (Array.isArray(value)) return value.map((v) => shapeOf(v));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, shapeOf(v, k)]));
  return value;
}
