/** The small helpers: image sniffing and decode checks, zoom arithmetic, the status line. */
import { describe, expect, it } from 'vitest';
import { installImageDecoder } from '../../test/browser.js';
import { pngBytes } from '../../test/fake-engine.js';
import { sniffImageMime } from './images.js';
import { loadImageBytes } from './open-image.js';
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
