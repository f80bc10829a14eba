/**
 * The package as a user gets it: built, packed into a tarball, installed into an empty project
 * with the libraries a user adds (hono, @hono/node-server, zod, pino, ws), type-checked there by
 * `tsc` against the shipped declarations (theirs included: skipLibCheck off), compiled, and run
 * with plain `node`: a Hono app with one namespace that a client joins and chats in.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { build } from '../scripts/build.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const rootPkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string; dependencies: Record<string, string>; devDependencies: Record<string, string> };
const work = mkdtempSync(join(tmpdir(), 'hns-package-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** What the user installs beside the package, at the versions this repository uses (the npm cache has them). */
function userLibraries(): string[] {
  const all = { ...rootPkg.dependencies, ...rootPkg.devDependencies };
  return ['hono', '@hono/node-server', 'zod', 'pino', 'ws', '@types/ws', '@types/node'].map((name) => `${name}@${all[name]}`);
}

const run = (command: string, args: string[], cwd: string, env: Record<string, string> = {}) =>
  execFileSync(command, args, { cwd, env: { ...process.env, ...env, npm_config_audit: 'false', npm_config_fund: 'false' }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

describe('the package', { timeout: 240_000 }, () => {
  let tarball = '';

  it('packs the framework, the client and the protocol as JavaScript with types, and nothing of the demo', () => {
    const pkgDir = build({ packageOnly: true, outDir: join(work, 'dist') });
    const [packed] = JSON.parse(run('npm', ['pack', pkgDir, '--json', '--pack-destination', work], work)) as Array<{ filename: string; files: Array<{ path: string }> }>;
    tarball = join(work, packed!.filename);
    const top = new Set(packed!.files.map((f) => f.path.split('/')[0]));
    expect([...top].sort()).toEqual(['CHANGELOG.md', 'README.md', 'client', 'package.json', 'protocol', 'ws']);
    const paths = packed!.files.map((f) => f.path);
    for (const entry of ['ws/index.js', 'ws/index.d.ts', 'client/index.js', 'client/index.d.ts', 'protocol/index.js']) expect(paths).toContain(entry);
    const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { name: string; version: string; exports: Record<string, unknown>; dependencies: Record<string, string> };
    expect(pkg).toMatchObject({ name: rootPkg.name, version: rootPkg.version });
    expect(Object.keys(pkg.exports)).toEqual(['.', './client', './protocol', './package.json']);
    // The demo's own libraries stay out of a user's install.
    expect(Object.keys(pkg.dependencies)).not.toContain('pino');
    expect(Object.keys(pkg.dependencies)).not.toContain('prom-client');
  });

  it('installs into an empty project, type-checks a user app against the shipped types, and runs it with node', () => {
    expect(tarball).not.toBe('');
    const project = join(work, 'consumer');
    run('mkdir', ['-p', project], work);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, outDir: 'out', types: ['node'], skipLibCheck: false },
        files: ['app.ts'],
      }),
    );
    copyFileSync(join(ROOT, 'test/package/consumer.ts'), join(project, 'app.ts'));
    run('npm', ['install', '--prefer-offline', tarball, ...userLibraries()], project);
    // tsc of this repository, on the user's project: it resolves the package from node_modules.
    run(join(ROOT, 'node_modules/.bin/tsc'), ['-p', '.'], project);
    const out = run(process.execPath, ['out/app.js'], project, { PORT: '0' });
    expect(JSON.parse(out.trim().split('\n').at(-1)!)).toEqual({ ack: { ok: true }, chat: { from: '(guest)', text: 'hello' }, seq: 1, username: '(guest)' });
  });

  it('rejects a user app that breaks the shipped types', () => {
    const project = join(work, 'consumer');
    // A wrong constructor call, and a chat without its text to the typed namespace of the app.
    writeFileSync(
      join(project, 'bad.ts'),
      "import { Realtime } from 'hono-namespaces';\nimport { connect } from 'hono-namespaces/client';\nimport type { roomNs } from './app.js';\nnew Realtime();\nconnect<typeof roomNs>('/x').send('chat', { txt: 'hi' });\n",
    );
    // The declarations were checked above; here only the user's code is.
    writeFileSync(join(project, 'tsconfig.bad.json'), JSON.stringify({ extends: './tsconfig.json', compilerOptions: { noEmit: true, skipLibCheck: true }, files: ['bad.ts'] }));
    let report = '';
    try {
      run(join(ROOT, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.bad.json'], project);
    } catch (err) {
      report = String((err as { stdout?: string }).stdout);
    }
    expect(report).toMatch(/bad\.ts.*error TS2554: Expected 2 arguments, but got 0/);
    expect(report).toMatch(/bad\.ts\(5,.*error TS2561: .*'txt' does not exist in type '\{ text: string; \}'/);
  });
});
