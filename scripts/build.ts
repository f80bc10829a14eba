/**
 * `npm run build`: the installable package and the demo apps, as JavaScript.
 *
 * - `dist/package/`: the framework (`.`), the client (`./client`) and the wire protocol
 *   (`./protocol`) with their types, a package.json whose dependencies are the framework's own
 *   (not the demo's), this README for npm and the CHANGELOG. `npm pack ./dist/package` (or
 *   `npm run pack`) makes the tarball.
 * - `dist/app/` and `dist/public/`: the demo apps, for a production run with plain node
 *   (`node dist/app/app.js`); they import the framework by its package name, which the root
 *   package.json's `exports` resolve to `dist/package`.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildClient } from './build-client.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');
const tsc = join(root, 'node_modules', '.bin', 'tsc');

/** What the package needs at run time: the framework's imports, not the demo's (pino, prom-client). */
const PACKAGE_DEPENDENCIES = ['hono', '@hono/node-server', '@hono/zod-validator', 'fast-jwt', 'ioredis', 'cluster-key-slot', 'ws', 'zod'] as const;

/**
 * Builds the package into `<outDir>/package` (default `dist/`), and, unless `packageOnly`, the demo
 * apps; returns the package's folder.
 */
export function build(options: { packageOnly?: boolean; outDir?: string } = {}): string {
  const out = options.outDir ?? dist;
  rmSync(out, { recursive: true, force: true });
  const pkgDir = join(out, 'package');
  execFileSync(tsc, ['-p', 'tsconfig.build.json', '--outDir', pkgDir], { cwd: root, stdio: 'inherit' });
  rewriteDeclarationImports(pkgDir);
  writePackageJson(pkgDir);
  cpSync(join(root, 'docs', 'package-readme.md'), join(pkgDir, 'README.md'));
  cpSync(join(root, 'CHANGELOG.md'), join(pkgDir, 'CHANGELOG.md'));
  if (!options.packageOnly) {
    if (out !== dist) throw new Error('the demo apps build into dist/ only (they resolve the package there)');
    execFileSync(tsc, ['-p', 'tsconfig.app.json'], { cwd: root, stdio: 'inherit' });
    cpSync(join(root, 'public'), join(dist, 'public'), { recursive: true });
  }
  return pkgDir;
}

/** The package's own package.json: name, version and exports of the root one, the framework's dependencies. */
function writePackageJson(pkgDir: string): void {
  const rootPkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    name: string;
    version: string;
    description: string;
    engines: Record<string, string>;
    dependencies: Record<string, string>;
    peerDependencies?: Record<string, string>;
  };
  const entry = (dir: string) => ({ types: `./${dir}/index.d.ts`, default: `./${dir}/index.js` });
  const dependencies = Object.fromEntries(
    PACKAGE_DEPENDENCIES.map((name) => {
      const version = rootPkg.dependencies[name];
      if (!version) throw new Error(`package.json has no dependency ${name}, which the package needs`);
      return [name, version];
    }),
  );
  const pkg = {
    name: rootPkg.name,
    version: rootPkg.version,
    description: rootPkg.description,
    type: 'module',
    engines: rootPkg.engines,
    exports: { '.': entry('ws'), './client': entry('client'), './protocol': entry('protocol'), './package.json': './package.json' },
    types: './ws/index.d.ts',
    files: ['ws', 'client', 'protocol', 'README.md', 'CHANGELOG.md'],
    sideEffects: false,
    dependencies,
  };
  writeFileSync(join(pkgDir, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
}

/**
 * Declaration files keep the sources' `.ts` import specifiers (TypeScript rewrites them in the
 * JavaScript only); a consumer's compiler looks for `.js` next to its `.d.ts`, so they are
 * rewritten here too.
 */
function rewriteDeclarationImports(dir: string): void {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) rewriteDeclarationImports(path);
    else if (name.endsWith('.d.ts')) {
      const text = readFileSync(path, 'utf8');
      const fixed = text.replace(/(from\s+['"]\.{1,2}\/[^'"]+)\.ts(['"])/g, '$1.js$2').replace(/(import\(['"]\.{1,2}\/[^'"]+)\.ts(['"]\))/g, '$1.js$2');
      if (fixed !== text) writeFileSync(path, fixed);
    }
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await buildClient();
  const packageOnly = process.argv.includes('--package');
  const pkgDir = build({ packageOnly });
  console.log(packageOnly ? `built ${pkgDir}` : `built ${pkgDir}, ${join(dist, 'app')} and ${join(dist, 'public')}`);
}
