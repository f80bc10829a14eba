import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (path: string) => fileURLToPath(new URL(`./src/${path}`, import.meta.url));

export default defineConfig({
  resolve: {
    // The package's own name, as the demo apps import it (tsconfig.json's `paths` say the same).
    alias: [
      { find: /^hono-namespaces\/client$/, replacement: src('client/index.ts') },
      { find: /^hono-namespaces\/protocol$/, replacement: src('protocol/index.ts') },
      { find: /^hono-namespaces$/, replacement: src('ws/index.ts') },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 15_000,
    hookTimeout: 15_000,
    // Suites start real servers on ephemeral ports; forks keep their sockets and timers apart.
    pool: 'forks',
  },
});
