/**
 * Test tiers (see README "Tests"). `npm test` runs them in order through scripts/bootstrap.mjs:
 *   unit         pure logic and in-memory PGlite; no services          (~2 min budget)
 *   integration  the real stack: Orthanc, Redis, PostgreSQL, s3rver     (~10 min budget)
 *   e2e          headless Debian Chromium (playwright-core) against the real stack: third-party
 *                viewers (OHIF) and, later, our own viewer                (<10 min budget)
 *   fuzz         hostile input and faults against the real stack (<8 min budget)
 *   logscan      runs last: greps every log the suite wrote for demo patients' identifiers
 */
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    reporters: ['default'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['tests/unit/**/*.test.ts'],
          testTimeout: 30_000,
          // Some unit files migrate an in-memory PGlite (all migrations) in their setup hook.
          hookTimeout: 60_000,
          pool: 'forks',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['tests/integration/**/*.test.ts'],
          globalSetup: ['tests/helpers/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          pool: 'forks',
          // The stack is shared; files run one at a time so kills and restarts do not race.
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['tests/e2e/**/*.test.ts'],
          globalSetup: ['tests/helpers/global-setup.ts'],
          // A browser test loads a viewer, data and pixels on 2 shared cores: minutes, not seconds.
          testTimeout: 240_000,
          hookTimeout: 300_000,
          pool: 'forks',
          // One browser at a time: Chromium with SwiftShader takes most of the machine.
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'fuzz',
          include: ['tests/fuzz/**/*.test.ts'],
          globalSetup: ['tests/helpers/global-setup.ts'],
          testTimeout: 480_000,
          hookTimeout: 180_000,
          pool: 'forks',
          // Kills, crashes and floods: one file at a time against the shared stack.
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'logscan',
          include: ['tests/logscan/**/*.test.ts'],
          testTimeout: 60_000,
        },
      },
    ],
  },
});
