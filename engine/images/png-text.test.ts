import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { addPngText, readPngText } from './png-text.js';
import { metadataTextChunks, readJobMetadata } from './job-metadata.js';
import type { JobMetadata } from '../protocol/index.js';

const metadata: JobMetadata = {
  kind: 'edit',
  model: 'tiny-kontext',
  text: 'make the circle blue and move it left',
  seed: 1234,
  steps: 20,
  guidance: 2.5,
  width: 64,
  height: 64,
  provider: 'cpu',
  createdAt: '2026-11-28T12:00:00.000Z',
  engineVersion: '0.1.0',
};

describe('PNG text chunks', () => {
  it('inserts the chunks before IDAT and reads them back', async () => {
    const png = await sharp({ create: { width: 3, height: 3, channels: 3, background: '#fff' } }).png().toBuffer();
    const out = addPngText(png, metadataTextChunks(metadata));
    const ascii = Buffer.from(out).toString('latin1');
    expect(ascii.indexOf('tEXtparameters')).toBeLessThan(ascii.indexOf('IDAT'));
    expect(ascii.indexOf('iTXtatelier')).toBeLessThan(ascii.indexOf('IDAT'));
    expect(readPngText(out).get('parameters')).toBe('make the circle blue and move it left\nSteps: 20, Sampler: Euler (flow matching), Guidance: 2.5, Seed: 1234, Size: 64x64, Model: tiny-kontext, Task: edit, Version: Atelier 0.1.0');
    expect(readJobMetadata(out)).toEqual(metadata);
    // still a valid PNG for decoders that check CRCs
    await expect(sharp(out).raw().toBuffer()).resolves.toHaveLength(27);
  });

  it('refuses bad keywords and non-PNG input, and reads nothing from other files', () => {
    expect(() => addPngText(new Uint8Array([1, 2, 3]), [])).toThrow('not a PNG file');
    expect(readPngText(new Uint8Array([0xff, 0xd8, 0xff])).size).toBe(0);
    expect(readJobMetadata(new Uint8Array(10))).toBeNull();
  });

  it('ignores metadata that is not valid JSON of the right shape', async () => {
    const png = await sharp({ create: { width: 1, height: 1, channels: 3, background: '#000' } }).png().toBuffer();
    const bad = addPngText(png, [{ keyword: 'atelier', text: '{"kind":"paint"}', international: true }]);
    expect(readJobMetadata(bad)).toBeNull();
    expect(() => addPngText(png, [{ keyword: ' lead', text: 'x' }])).toThrow(/keyword/);
    expect(() => addPngText(png, [{ keyword: 'k', text: 'snow ❄' }])).toThrow(/iTXt/);
  });
});
