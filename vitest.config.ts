import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Plugin code under test imports the kit by its package name; tests use its source.
  resolve: { alias: { 'pincer/channel-kit': fileURLToPath(new URL('./src/channels/kit/index.ts', import.meta.url)) } },
  test: {
    include: ['test/**/*.test.ts', 'plugins/*/test/**/*.test.ts'],
    // Suites share 2 cores with the child processes they spawn; run files one at a time
    // so timing-sensitive integration tests do not starve each other.
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
