/**
 * The desktop app through Playwright's Electron driver. It needs the Electron binary, which
 * cannot be downloaded everywhere (offline CI machines): there the suite says in one line that it
 * skipped and why, and the same renderer and engine are covered by web-shell.e2e.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { _electron as electron } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import type { AtelierBridge } from '../engine/protocol/index.js';

/** Every member of AtelierBridge, checked both ways at compile time so the list cannot drift. */
const bridgeMembers = ['chooseFolder', 'connectEngine', 'openImage', 'saveImage', 'shell'] as const satisfies readonly (keyof AtelierBridge)[];
const bridgeComplete: Exclude<keyof AtelierBridge, (typeof bridgeMembers)[number]> extends never ? true : false = true;

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

function electronBinary(): { path: string | null; reason: string } {
  const pkgDir = path.dirname(require.resolve('electron/package.json'));
  const pathFile = path.join(pkgDir, 'path.txt');
  if (!existsSync(pathFile)) return { path: null, reason: 'the Electron binary is not installed (node_modules/electron has no path.txt; it is downloaded on first use and this machine cannot download it)' };
  const binary = path.join(pkgDir, 'dist', readFileSync(pathFile, 'utf8').trim());
  if (!existsSync(binary)) return { path: null, reason: `the Electron binary ${binary} is missing` };
  if (process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) return { path: null, reason: 'there is no display (DISPLAY is unset; run under xvfb-run)' };
  return { path: binary, reason: '' };
}

const found = electronBinary();
if (!found.path) process.stdout.write(`electron e2e skipped: ${found.reason}\n`);

describe.skipIf(!found.path)('desktop app (Electron)', () => {
  it('opens the hardened window, connects to the engine over a MessagePort and runs a job', async () => {
    const app = await electron.launch({ executablePath: found.path!, args: [root] });
    try {
      const page = await app.firstWindow();
      expect(page.url()).toBe('app://atelier/index.html');
      // No Node in the page, and the bridge offers named functions only.
      const surface = await page.evaluate(() => {
        const w = window as unknown as { require?: unknown; process?: unknown; atelier?: Record<string, unknown> };
        return { require: typeof w.require, process: typeof w.process, bridge: Object.keys(w.atelier ?? {}).sort() };
      });
      expect(surface).toEqual({ require: 'undefined', process: 'undefined', bridge: [...bridgeMembers].sort() });
      expect(bridgeComplete).toBe(true);
      // Navigation away from the app is refused.
      await page.evaluate(() => {
        window.location.href = 'https://example.com/';
      });
      await page.waitForTimeout(500);
      expect(page.url()).toBe('app://atelier/index.html');
      await page.getByTestId('engine-status').filter({ hasText: /Ready/ }).waitFor({ timeout: 60_000 });
      await page.getByTestId('mode-generate').click();
      await page.getByTestId('prompt').fill('a large red circle in the center on a white background');
      await page.getByTestId('run').click();
      await page.locator('[data-testid="canvas-image"][data-kind="output"]').waitFor({ timeout: 60_000 });
    } finally {
      await app.close();
    }
  });
});
