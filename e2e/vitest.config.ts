/**
 * End-to-end tests: the real renderer in Debian's Chromium (through playwright-core) against the
 * real engine through the web shell, and the desktop app through Playwright's Electron driver
 * where the Electron binary exists. They run one file at a time: each starts its own shell.
 */
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['e2e/**/*.e2e.ts'],
    environment: 'node',
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
