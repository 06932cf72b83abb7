import { defineConfig } from 'vitest/config';

// Integration tests build labs, namespaces and control planes of their own; running those files
// one at a time keeps the 2-core machine from timing them out. Unit tests are quick either way.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 180_000,
    reporters: ['default', 'json'],
    outputFile: { json: '.test-results.json' },
  },
});
