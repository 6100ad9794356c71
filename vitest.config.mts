import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            'definitions/**/*.test.ts',
            'ml/**/*.test.ts',
            'config/**/*.test.ts',
            'storage/**/*.test.ts',
            'serving/**/*.test.ts',
            'cli/**/*.test.ts',
            'workflows/**/*.test.ts',
            'activities/**/*.test.ts',
            'workers/**/*.test.ts',
            'schedules/**/*.test.ts',
            'test/static/**/*.test.ts',
          ],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: ['test/static/**'],
          globalSetup: ['test/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // One stack is shared by every file; files run one after another on 2 cores.
          fileParallelism: false,
        },
      },
    ],
  },
});
