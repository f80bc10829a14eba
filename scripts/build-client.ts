/**
 * Bundles the client (`src/client/index.ts`) into one browser ES module, `public/client.js`, so
 * that the demo and any page import the same code the Node tests run. Runs before `npm start`
 * and `npm test`; the output is not committed.
 */
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));

/** The bundle's path. */
export const CLIENT_BUNDLE = `${root}public/client.js`;

/** Builds `public/client.js` (with a source map); throws on a compile error. */
export async function buildClient(): Promise<void> {
  await build({
    entryPoints: [`${root}src/client/index.ts`],
    outfile: CLIENT_BUNDLE,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    sourcemap: true,
    logLevel: 'warning',
    legalComments: 'none',
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await buildClient();
}
