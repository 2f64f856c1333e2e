/**
 * Unit tests: engine and app run in Node; the renderer's components run in jsdom with Svelte's
 * testing plugin. End-to-end tests have their own config (e2e/vitest.config.ts).
 */
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { svelteTesting } from '@testing-library/svelte/vite';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'node',
          include: ['engine/**/*.test.ts', 'app/**/*.test.ts'],
          environment: 'node',
          setupFiles: ['engine/testing/temp-cleanup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'zoo',
          include: ['models/zoo/**/*.test.ts'],
          environment: 'node',
          testTimeout: 15 * 60_000,
        },
      },
      {
        plugins: [svelte(), svelteTesting()],
        test: {
          name: 'renderer',
          include: ['renderer/**/*.test.ts'],
          environment: 'jsdom',
        },
      },
    ],
  },
});
