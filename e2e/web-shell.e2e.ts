/**
 * The real renderer in Chromium against the real engine through the web shell, on the embedded
 * default model: open an image, run jobs with live step previews, move an instruction slider (the
 * STLoRA takes the red out of "make the square red"), cancel, survive an engine crash,
 * refuse a wrong token. Also saves a screenshot of the editor (e2e/.artifacts/screenshot.png;
 * with UPDATE_SCREENSHOT=1 it replaces assets/screenshot.png, the README's picture).
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './support/browser.js';
import { startShell, type RunningShell } from './support/web-shell.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const artifacts = path.join(root, 'e2e', '.artifacts');

let shell: RunningShell;
let browser: Browser;

beforeAll(async () => {
  mkdirSync(artifacts, { recursive: true });
  shell = await startShell();
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await shell?.stop();
});

async function openEditor(): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  page.on('pageerror', (error) => {
    throw error;
  });
  await page.goto(shell.url);
  await expectText(page, 'engine-status', /Ready/);
  return page;
}

async function expectText(page: Page, testId: string, pattern: RegExp, timeout = 60_000): Promise<void> {
  await page.getByTestId(testId).filter({ hasText: pattern }).first().waitFor({ state: 'visible', timeout });
}

async function setNumber(page: Page, testId: string, value: number): Promise<void> {
  const field = page.getByTestId(testId);
  await field.fill(String(value));
  await field.press('Enter');
}

/** The shown output's pixels, as RGB bytes (read back through a canvas once the image is decoded). */
async function outputPixels(page: Page): Promise<{ width: number; height: number; rgb: number[] }> {
  return page.locator('[data-testid="canvas-image"][data-kind="output"]').evaluate(async (img: HTMLImageElement) => {
    await img.decode(); // a just-replaced <img> may not be decoded yet
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    const context = canvas.getContext('2d')!;
    context.drawImage(img, 0, 0);
    const rgba = context.getImageData(0, 0, canvas.width, canvas.height).data;
    return { width: canvas.width, height: canvas.height, rgb: Array.from(rgba).filter((_, i) => i % 4 !== 3) };
  });
}

/** Mean colour of the shown output's non-background pixels (those far from white). */
async function squareColour(page: Page): Promise<{ red: number; blue: number }> {
  const { rgb } = await outputPixels(page);
  let red = 0;
  let blue = 0;
  let n = 0;
  for (let i = 0; i < rgb.length; i += 3) {
    if (rgb[i]! + rgb[i + 1]! + rgb[i + 2]! > 600) continue; // background
    red += rgb[i]!;
    blue += rgb[i + 2]!;
    n++;
  }
  return { red: red / Math.max(1, n), blue: blue / Math.max(1, n) };
}

// A blue square on white, 64 x 64, like the world the default model was trained on; every test
// that opens an image opens this one (made once).
const sourceSvg = `<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect width="64" height="64" fill="white"/><rect x="22" y="22" width="20" height="20" fill="#2050e0"/></svg>`;
const sourcePng: Promise<Buffer> = sharp(Buffer.from(sourceSvg)).png().toBuffer();

describe('web shell, end to end', () => {
  it('generates an image with step previews and shows it in the canvas and the history', async () => {
    const page = await openEditor();
    await expect(page.getByTestId('model-picker').inputValue()).resolves.not.toBe('');
    await expect(page.getByTestId('provider-badge').textContent()).resolves.toMatch(/cpu/);
    await page.getByTestId('mode-generate').click();
    await page.getByTestId('prompt').fill('a large red circle in the center on a white background');
    await setNumber(page, 'steps', 12);
    await page.getByTestId('run').click();
    await expectText(page, 'progress', /Step \d+\/12/);
    await page.getByTestId('preview').waitFor({ state: 'visible' });
    await page.locator('[data-testid="canvas-image"][data-kind="output"]').waitFor({ state: 'visible', timeout: 60_000 });
    await expect(page.getByTestId('history-item').count()).resolves.toBeGreaterThanOrEqual(1);
    await page.close();
  });

  it('opens an image, runs an instruction edit, and takes a screenshot of the editor', async () => {
    const page = await openEditor();
    await page.getByTestId('file-input').setInputFiles({ name: 'square.png', mimeType: 'image/png', buffer: await sourcePng });
    await page.locator('[data-testid="canvas-image"][data-kind="source"]').waitFor({ state: 'visible' });
    // opening an image switches to Edit (asynchronously: wait for it rather than read it once)
    await page.locator('[data-testid="mode-edit"][aria-selected="true"]').waitFor({ state: 'visible' });
    await page.getByTestId('prompt').fill('make the square red and move it to the left');
    await setNumber(page, 'steps', 20);
    await page.getByTestId('run').click();
    const output = page.locator('[data-testid="canvas-image"][data-kind="output"]');
    await output.waitFor({ state: 'visible', timeout: 60_000 });
    await expect(page.locator('[data-testid="toast"][data-kind="error"]').count()).resolves.toBe(0);
    // The shown output is a real 64 x 64 edit of the source, not the source itself.
    const edited = await outputPixels(page);
    const source = await sharp(await sourcePng).removeAlpha().raw().toBuffer();
    expect([edited.width, edited.height]).toEqual([64, 64]);
    const meanAbsDiff = edited.rgb.reduce((sum, v, i) => sum + Math.abs(v - source[i]!), 0) / source.length;
    expect(meanAbsDiff).toBeGreaterThan(5);
    const shot = path.join(artifacts, 'screenshot.png');
    await page.screenshot({ path: shot });
    if (process.env.UPDATE_SCREENSHOT === '1') copyFileSync(shot, path.join(root, 'assets', 'screenshot.png'));
    await page.close();
  });

  it('moves an instruction slider: the edit re-renders on the real engine with the STLoRA', async () => {
    const page = await openEditor();
    await page.getByTestId('file-input').setInputFiles({ name: 'square.png', mimeType: 'image/png', buffer: await sourcePng });
    await page.locator('[data-testid="mode-edit"][aria-selected="true"]').waitFor({ state: 'visible' });
    await page.getByTestId('prompt').fill('make the square red and move it to the left');
    await setNumber(page, 'steps', 20);
    await setNumber(page, 'seed', 7);
    await expect.poll(() => page.getByTestId('slider-chip').count()).toBe(2);
    const slider = page.getByTestId('slider').first();
    await expect(slider.getAttribute('aria-disabled')).resolves.toBe('false'); // the embedded model has its STLoRA
    await page.getByTestId('run').click();
    await page.locator('[data-testid="canvas-image"][data-kind="output"]').waitFor({ state: 'visible', timeout: 60_000 });
    await expectText(page, 'run', /^Run$/);
    const plain = await squareColour(page);
    const outputs = await page.getByTestId('history-item').count();
    // "make the square red" to strength 0: the same edit from the same noise, without the red
    await slider.focus();
    await slider.press('Home');
    await expect.poll(() => page.getByTestId('history-item').count(), { timeout: 60_000 }).toBe(outputs + 1);
    await expect.poll(() => page.getByTestId('sliders-pending').count(), { timeout: 60_000 }).toBe(0);
    await expect(page.locator('[data-testid="toast"][data-kind="error"]').count()).resolves.toBe(0);
    const slid = await squareColour(page);
    expect(plain.red).toBeGreaterThan(plain.blue);
    expect(slid.blue).toBeGreaterThan(slid.red);
    await page.close();
  });

  it('tells the user a non-image file cannot be opened, and keeps working', async () => {
    const page = await openEditor();
    await page.getByTestId('file-input').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not an image') });
    await expectText(page, 'toast', /notes\.txt/);
    await expect(page.getByTestId('run').isEnabled()).resolves.toBe(true);
    await page.close();
  });

  it('cancels a running job between steps', async () => {
    const page = await openEditor();
    await page.getByTestId('mode-generate').click();
    await page.getByTestId('prompt').fill('a small green triangle at the top right on a black background');
    await setNumber(page, 'steps', 200);
    await page.getByTestId('run').click();
    await expectText(page, 'progress', /Step \d+\/200/);
    await expectText(page, 'run', /Cancel/);
    await page.getByTestId('run').click();
    await expectText(page, 'run', /^Run$/);
    await expect(page.getByTestId('error').count()).resolves.toBe(0);
    await page.close();
  });

  it('restarts a killed engine, reports the lost job as failed, and runs again', async () => {
    const page = await openEditor();
    await page.getByTestId('mode-generate').click();
    await page.getByTestId('prompt').fill('a large yellow square at the bottom left on a gray background');
    await setNumber(page, 'steps', 200);
    await page.getByTestId('run').click();
    await expectText(page, 'progress', /Step \d+\/200/);
    const pid = shell.enginePids.at(-1)!;
    process.kill(pid, 'SIGKILL');
    await page.locator('[data-testid="error"][data-code="engine_restarted"]').waitFor({ state: 'visible', timeout: 30_000 });
    const newPid = await shell.waitForEnginePid(shell.enginePids.indexOf(pid) + 2);
    expect(newPid).not.toBe(pid);
    await expectText(page, 'engine-status', /Ready/);
    await setNumber(page, 'steps', 4);
    await page.getByTestId('run').click();
    await page.locator('[data-testid="canvas-image"][data-kind="output"]').waitFor({ state: 'visible', timeout: 60_000 });
    await page.close();
  });

  it('rejects a wrong token on the page and on the socket', async () => {
    const wrong = shell.url.replace(/token=[\w-]+/, 'token=wrong');
    const res = await fetch(wrong);
    expect(res.status).toBe(401);
    const page = await browser.newPage();
    const response = await page.goto(wrong);
    expect(response?.status()).toBe(401);
    await expect(page.textContent('body')).resolves.toMatch(/401 Unauthorized/);
    const socketStatus = await page.evaluate(
      (port) =>
        new Promise<string>((resolve) => {
          const ws = new WebSocket(`ws://127.0.0.1:${port}/rpc?token=wrong`);
          ws.onopen = () => resolve('open');
          ws.onerror = () => resolve('refused');
        }),
      shell.port,
    );
    expect(socketStatus).toBe('refused');
    await page.close();
  });
});
