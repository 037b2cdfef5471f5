// Test runner configuration: every file runs in parallel against real Postgres, Redis and SMTP.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/setup/global-setup.ts'],
    // Files are isolated by database and Redis prefix, so they can run side by side.
    pool: 'forks',
    fileParallelism: true,
    testTimeout: 30_000,
    hookTimeout: 120_000,
    teardownTimeout: 60_000,
    // Workers, queues and the SMTP sink are asynchronous, and CI shares two cores with everything else:
    // a condition gets ten seconds to become true, not the default one.
    expect: { poll: { timeout: 10_000 } },
  },
});
