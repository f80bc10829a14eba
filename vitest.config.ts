import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 15_000,
    hookTimeout: 15_000,
    // Suites start real servers on ephemeral ports; forks keep their sockets and timers apart.
    pool: 'forks',
  },
});
