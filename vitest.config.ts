import { defineConfig } from 'vitest/config';

/**
 * `test/` mirrors `src/`. Unit tests (`*.test.ts`) are pure or use in-memory ports and need nothing installed;
 * integration tests (`*.int.test.ts`) run against the bench's real Mosquitto, dockerd, sshd, rsync, nginx and
 * sqlite3, which test/bench/global-setup.ts installs and starts.
 */
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.int.test.ts', 'node_modules/**'],
          testTimeout: 20_000,
          // Unit tests first, then the integration bench (projects with different maxWorkers need their own group).
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.int.test.ts'],
          globalSetup: ['test/bench/global-setup.ts'],
          // Integration tests share one dockerd and the loopback ports; two workers fit the 2-core machine.
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
          testTimeout: 180_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
