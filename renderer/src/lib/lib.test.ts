/**
 * The small helpers: image sniffing and decode checks, model capabilities and sampler names,
 * PNG text and Atelier settings, zoom arithmetic, the status line.
 */
import { describe, expect, it, vi } from 'vitest';
import { installImageDecoder } from '../../test/browser.js';
import { BIG_MODEL, TINY_MODEL, atelierPng, metadata, pngBytes, pngChunk, textChunk } from '../../test/fake-engine.js';
import { releaseUrl, retainUrl, sniffImageMime } from './images.js';
import { editKindOf, editOutputSize, guidanceLabel, schedulerLabel, tabBlocker, tabOf } from './models.js';
import { loadImageBytes } from './open-image.js';
import { readPngSettings, readPngText } from './png-metadata.js';
import { describeStatus } from './status.js';
import { fitScale, scrollToKeep, wheelFactor } from './zoom.js';

describe('opening image bytes', () => {
  it('sniffs common formats from their first bytes', () => {
    expect(sniffImageMime(pngBytes(1, 1))).toBe('image/png');
    expect(sniffImageMime(new Uint8Array([0xff, 0xd8, 0xff, 0xe0]))).toBe('image/jpeg');
    expect(sniffImageMime(new TextEncoder().encode('RIFF\0\0\0\0WEBPVP8 '))).toBe('image/webp');
    expect(sniffImageMime(new TextEncoder().encode('hello'))).toBeNull();
  });

  it('accepts a decodable image with its size and keeps the original bytes', async () => {
    installImageDecoder();
    const bytes = pngBytes(12, 34);
    const result = await loadImageBytes('a.png', bytes, '');
    expect(result).toEqual({ ok: true, image: { name: 'a.png', mime: 'image/png', bytes, width: 12, height: 34 } });
  });

  it('names the file and the problem otherwise', async () => {
    installImageDecoder();
    expect(await loadImageBytes('notes.txt', new TextEncoder().encode('hi'), 'text/plain')).toEqual({
      ok: false,
      message: 'notes.txt is not an image: the browser cannot decode it (text/plain)',
    });
    expect(await loadImageBytes('photo.heic', new Uint8Array([0, 0, 0, 24]), 'image/heic')).toEqual({
      ok: false,
      message: 'photo.heic cannot be opened: this browser cannot decode the image (image/heic); try PNG or JPEG',
    });
    expect(await loadImageBytes('empty.png', new Uint8Array(0), 'image/png')).toEqual({ ok: false, message: 'empty.png is not an image: the file is empty' });
  });
});

describe('model capabilities', () => {
  it('maps job kinds to tabs and picks the Edit task of a model', () => {
    expect([tabOf('generate'), tabOf('edit'), tabOf('img2img')]).toEqual(['generate', 'edit', 'edit']);
    expect(editKindOf(TINY_MODEL)).toBe('edit');
    expect(editKindOf(BIG_MODEL)).toBe('img2img');
    expect(editKindOf({ tasks: ['generate'] })).toBeNull();
    expect(tabBlocker({ name: 'Gen', tasks: ['generate'] }, 'edit')).toBe('Gen cannot edit images.');
    expect(tabBlocker({ name: 'Ed', tasks: ['edit'] }, 'generate')).toBe('Ed cannot generate images from text.');
    expect(tabBlocker(BIG_MODEL, 'edit')).toBeNull();
  });

  it('names the samplers readably, unknown kinds as they are, and guidance by sampler family', () => {
    expect(['flow-euler', 'euler-a', 'euler', 'ddim', 'dpmpp-2m-karras', 'dpmpp-2m', 'lcm', 'unipc', 'toString'].map(schedulerLabel)).toEqual([
      'Euler (flow matching)',
      'Euler a',
      'Euler',
      'DDIM',
      'DPM++ 2M Karras',
      'DPM++ 2M',
      'LCM',
      'unipc',
      'toString',
    ]);
    expect([guidanceLabel('flow-euler'), guidanceLabel('euler-a'), guidanceLabel('')]).toEqual(['Guidance', 'CFG scale', 'Guidance']);
    expect(guidanceLabel('flow-euler', true)).toBe('CFG scale');
  });

  it("sizes edits like the engine: the model's size when fixed, else the source's shape at its pixel count", () => {
    expect(editOutputSize(TINY_MODEL, { width: 40, height: 30 })).toEqual({ width: 64, height: 64 });
    expect(editOutputSize(BIG_MODEL, { width: 40, height: 30 })).toEqual({ width: 592, height: 448 });
    expect(editOutputSize(BIG_MODEL, { width: 1000, height: 1000 })).toEqual({ width: 512, height: 512 });
    expect(editOutputSize(BIG_MODEL, null)).toEqual({ width: 512, height: 512 });
  });
});

describe('PNG settings', () => {
  const made = metadata({ kind: 'img2img', text: 'un café ☕', seed: 123, steps: 20, scheduler: 'ddim', negativePrompt: 'blur', strength: 0.4 });

  it('reads tEXt and uncompressed iTXt chunks (UTF-8), wherever they are', () => {
    const plain = pngBytes(4, 4);
    const afterIdat = Uint8Array.from([...plain.subarray(0, -12), ...textChunk('late', 'after the pixels'), ...plain.subarray(-12)]);
    const png = pngBytes(4, 4, 0, [textChunk('parameters', 'Steps: 20', false), textChunk('Comment', 'héllo ☕')]);
    expect(Object.fromEntries(readPngText(png))).toEqual({ parameters: 'Steps: 20', Comment: 'héllo ☕' });
    // a compressed iTXt is skipped
    const compressed = pngChunk('iTXt', Uint8Array.from([...new TextEncoder().encode('atelier'), 0, 1, 0, 0, 0, 120, 156]));
    expect(readPngText(pngBytes(4, 4, 0, [compressed])).size).toBe(0);
    expect(readPngText(plain).size).toBe(0);
    expect(readPngText(afterIdat).get('late')).toBe('after the pixels');
  });

  it('reads the settings Atelier wrote, and nothing from other files', () => {
    expect(readPngSettings(atelierPng(64, 64, made))).toEqual({
      kind: 'img2img',
      model: 'Tiny Shapes',
      text: 'un café ☕',
      seed: 123,
      steps: 20,
      guidance: 2.5,
      width: 64,
      height: 64,
      scheduler: 'ddim',
      negativePrompt: 'blur',
      strength: 0.4,
    });
    expect(readPngSettings(pngBytes(4, 4, 0, [textChunk('parameters', 'a cat\nSteps: 20', false)]))).toBeNull();
    expect(readPngSettings(pngBytes(4, 4, 0, [textChunk('atelier', '{not json')]))).toBeNull();
    expect(readPngSettings(pngBytes(4, 4, 0, [textChunk('atelier', JSON.stringify({ ...made, seed: -1 }))]))).toBeNull();
    expect(readPngSettings(pngBytes(4, 4, 0, [textChunk('atelier', JSON.stringify({ ...made, kind: 'upscale' }))]))).toBeNull();
    expect(readPngSettings(new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0, 16]))).toBeNull();
    // a file cut short inside a chunk reads what came before it and stops
    const full = atelierPng(64, 64, made);
    expect(readPngSettings(full.subarray(0, full.length - 40))).toBeNull();
    expect(() => readPngText(full.subarray(0, 30))).not.toThrow();
  });
});

describe('zoom arithmetic', () => {
  it('fits small images up and large images down', () => {
    expect(fitScale(64, 64, 640, 480)).toBe(7.5);
    expect(fitScale(4000, 2000, 800, 800)).toBe(0.2);
    expect(fitScale(64, 64, 0, 0)).toBe(1);
  });

  it('zooms in on wheel up, faster for pinch, and keeps the point under the cursor', () => {
    expect(wheelFactor({ deltaY: -100, deltaMode: 0, ctrlKey: false })).toBeGreaterThan(1);
    expect(wheelFactor({ deltaY: 10, deltaMode: 0, ctrlKey: true })).toBeLessThan(wheelFactor({ deltaY: 10, deltaMode: 0, ctrlKey: false }));
    expect(scrollToKeep(100, 50, 2)).toBe(250);
  });
});

describe('engine status', () => {
  const connection = { state: 'connected' as const, transport: 'websocket', failures: 0, retryInMs: null, lastError: null };
  const base = { connection, fatal: null, loadingModel: null, hasModel: true, jobPhase: 'idle' as const };

  it('reads Ready, Running, Loading model and No model while connected', () => {
    expect(describeStatus(base).text).toBe('Ready');
    expect(describeStatus({ ...base, jobPhase: 'running' }).text).toBe('Running');
    expect(describeStatus({ ...base, loadingModel: 'Tiny' }).text).toBe('Loading model…');
    expect(describeStatus({ ...base, hasModel: false }).tone).toBe('warn');
  });

  it('counts down a reconnect', () => {
    const view = describeStatus({ ...base, connection: { ...connection, state: 'reconnecting', retryInMs: 2_400, lastError: 'socket closed' } });
    expect(view).toEqual({ tone: 'warn', text: 'Reconnecting in 3 s…', detail: 'The engine connection dropped. Last error: socket closed' });
  });
});

describe('shared object URLs', () => {
  it('gives every holder of the same bytes one URL, revoked at the last release', () => {
    const bytes = pngBytes(4, 4);
    const a = retainUrl(bytes, 'image/png');
    const b = retainUrl(bytes, 'image/png');
    expect(b).toBe(a);
    expect(retainUrl(pngBytes(4, 4), 'image/png')).not.toBe(a); // other bytes, another URL
    const revoke = vi.spyOn(URL, 'revokeObjectURL');
    releaseUrl(a);
    expect(revoke).not.toHaveBeenCalledWith(a); // still held once
    releaseUrl(b);
    expect(revoke).toHaveBeenCalledWith(a);
    revoke.mockRestore();
    const c = retainUrl(bytes, 'image/png'); // after the last release: a fresh URL
    expect(c).not.toBe(a);
    releaseUrl(c);
    releaseUrl(null);
  });
});
