/**
 * Verification on the stand-in watermark files (engine/testing/watermark.ts, whose extractor reads
 * bit i from the red mean of the i-th 8x8 block, so a test can draw an image carrying any key):
 * the verdict with K/n, p-value, threshold and the Bonferroni split; every kind of bad image
 * (grayscale, transparency, CMYK JPEG, animation, too small, corrupt, empty, not an image, a
 * decompression bomb), each with a clear verdict or error and never a false "verified"; claimed
 * keys in PNG metadata reported but not trusted.
 */
import sharp from 'sharp';
import { crc32, deflateSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { encodePng } from '../../images/codec.js';
import { metadataTextChunks } from '../../images/job-metadata.js';
import { tempDir } from '../../testing/models.js';
import { DEMO_BITS, keyImage, writeWatermarkFixture } from '../../testing/watermark.js';
import { Watermarking } from './service.js';
import type { RgbImage } from '../../images/rgb.js';

const assetsDir = writeWatermarkFixture(tempDir('atelier-wm-assets-'));
const service = new Watermarking(tempDir('atelier-wm-data-'), assetsDir);
afterAll(() => service.release());

const raw = (image: RgbImage) => sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } });
const demoPng = () => encodePng(keyImage(DEMO_BITS));

async function verifyOne(name: string, bytes: Uint8Array, fpr?: number) {
  const [verdict] = await service.verify([{ name, bytes }], fpr);
  return verdict!;
}

describe('watermark verification', () => {
  it('verifies an image carrying the demo key, with K/n, the p-value and the threshold', async () => {
    const v = await verifyOne('demo.png', await demoPng());
    expect(v).toMatchObject({ status: 'verified', key: { id: 'demo', name: 'Demo key' }, k: 48, n: 48, thresholdK: 41, fpr: 1e-6, keys: 1, bits: DEMO_BITS, notes: [] });
    expect(v.pValue).toBe(2 ** -48);
    expect(v.summary).toBe('verified: 48/48 bits match Demo key (p = 3.55e-15); threshold 41/48 at false-positive rate 1.00e-6');
  });

  it('counts K against the closest key and applies the threshold, split over several keys', async () => {
    const bits = DEMO_BITS.split('');
    bits[0] = '5'; // a -> 5 flips 4 bits: 44 of 48 still match
    bits[1] = 'a'; // 5 -> a flips 4 more: 40 of 48, under 41
    const near = await encodePng(keyImage(bits.join('')));
    const v = await verifyOne('near.png', near);
    expect(v).toMatchObject({ status: 'not_verified', key: null, closestKey: { id: 'demo' }, k: 40, thresholdK: 41 });
    expect(v.summary).toMatch(/^not verified: 40\/48 bits match the closest key, Demo key \(p = 1\.65e-6\)/);
    const loose = await verifyOne('near.png', near, 1e-3);
    expect(loose).toMatchObject({ status: 'verified', k: 40, thresholdK: 36 });

    const user = await service.keys.create('Mine');
    try {
      const two = await verifyOne('mine.png', await encodePng(keyImage(user.bits)));
      expect(two).toMatchObject({ status: 'verified', key: { id: user.id, name: 'Mine' }, k: 48, keys: 2, thresholdK: 41 });
      expect(two.perKeyFpr).toBeCloseTo(5e-7, 20);
      expect(two.summary).toMatch(/threshold 41\/48 at false-positive rate 1\.00e-6 over 2 keys \(Bonferroni: 5\.00e-7 per key\)$/);
    } finally {
      await service.keys.delete(user.id);
    }
  });

  it('reads a key claimed in Atelier metadata without trusting it', async () => {
    const image = keyImage('000000000000');
    const meta = { kind: 'generate' as const, model: 'm', text: 't', seed: 1, steps: 1, guidance: 0, width: 64, height: 64, provider: 'cpu' as const, createdAt: '', engineVersion: '0', watermarkKey: 'demo' };
    const v = await verifyOne('claims.png', await encodePng(image, metadataTextChunks(meta)));
    expect(v).toMatchObject({ status: 'not_verified', claimedKeyId: 'demo' });
    expect(v.k).toBe(48 - 26); // all-zero bits match the demo key's 22 zero bits
  });

  it('resizes large images to the extractor input, and says so', async () => {
    const big = await raw(keyImage(DEMO_BITS)).resize(1024, 1024, { kernel: 'nearest' }).png().toBuffer();
    const v = await verifyOne('big.png', big);
    expect(v).toMatchObject({ status: 'verified', k: 48, width: 1024, height: 1024, notes: ['resized from 1024x1024 to 64x64'] });
    const jpeg = await raw(keyImage(DEMO_BITS)).jpeg({ quality: 50 }).toBuffer();
    expect(await verifyOne('q50.jpg', jpeg)).toMatchObject({ status: 'verified' });
  });

  it('notes grayscale, transparency, CMYK and animation', async () => {
    const gray = await raw(keyImage(DEMO_BITS)).toColourspace('b-w').png().toBuffer();
    const g = await verifyOne('gray.png', gray);
    expect(g.notes.join(' ')).toMatch(/^grayscale: the colours the watermark partly lives in are gone/);
    expect(['verified', 'not_verified']).toContain(g.status);
    const flat = await raw({ width: 64, height: 64, data: new Uint8Array(64 * 64 * 3).fill(90) }).toColourspace('b-w').png().toBuffer();
    expect(await verifyOne('flat-gray.png', flat)).toMatchObject({ status: 'not_verified' });

    const rgba = await raw(keyImage(DEMO_BITS)).ensureAlpha(0.5).png().toBuffer();
    const t = await verifyOne('half-transparent.png', rgba);
    expect(t.notes).toEqual(['transparent areas: flattened onto white, where the watermark cannot survive']);
    const opaque = await raw(keyImage(DEMO_BITS)).ensureAlpha(1).png().toBuffer();
    expect(await verifyOne('opaque-alpha.png', opaque)).toMatchObject({ status: 'verified', notes: [] });

    const cmyk = await raw(keyImage(DEMO_BITS)).toColourspace('cmyk').jpeg({ quality: 95 }).toBuffer();
    const c = await verifyOne('cmyk.jpg', cmyk);
    expect(c.notes).toEqual(['CMYK: converted to RGB; the colour conversion may weaken the watermark']);
    expect(c.status).toBe('verified');

    const first = keyImage(DEMO_BITS);
    const second = keyImage('000000000000');
    const frames = Buffer.concat([first.data, second.data]);
    const gif = await sharp(frames, { raw: { width: 64, height: 128, channels: 3, pageHeight: 64 } as never }).gif().toBuffer();
    const a = await verifyOne('anim.gif', gif);
    expect(a.notes[0]).toBe('animated (2 frames): the first frame was checked');
    expect(a).toMatchObject({ width: 64, height: 64 });
  });

  it('refuses images it cannot check, with the reason, never verified', async () => {
    const small = await raw({ width: 20, height: 20, data: new Uint8Array(20 * 20 * 3) }).png().toBuffer();
    const corrupt = Buffer.from(await demoPng());
    corrupt.fill(0x41, 60, corrupt.length - 20);
    const files = [
      { name: 'small.png', bytes: small },
      { name: 'broken.png', bytes: corrupt },
      { name: 'empty.png', bytes: new Uint8Array() },
      { name: 'notes.txt', bytes: new TextEncoder().encode('hello') },
      { name: 'bomb.png', bytes: pngHeaderOnly(20000, 20000) },
      { name: 'demo.png', bytes: await demoPng() },
    ];
    const verdicts = await service.verify(files);
    expect(verdicts.map((v) => v.status)).toEqual(['error', 'error', 'error', 'error', 'error', 'verified']);
    expect(verdicts[0]!.summary).toBe('cannot check: small.png: 20x20 is too small to carry a readable watermark (at least 32x32 pixels; the extractor reads 64x64)');
    expect(verdicts[1]!.summary).toMatch(/^cannot check: broken\.png: /);
    expect(verdicts[2]!.summary).toBe('cannot check: empty.png: the file is empty');
    expect(verdicts[3]!.summary).toMatch(/^cannot check: notes\.txt: not an image that can be read/);
    expect(verdicts[4]!.summary).toMatch(/^cannot check: bomb\.png: 20000x20000 is larger than the 67,108,864-pixel limit/);
    for (const v of verdicts.slice(0, 5)) expect(v).toMatchObject({ key: null, k: null, pValue: null, bits: null });
  });

  it('says when there is no key to compare with, and refuses a nonsense rate', async () => {
    const bare = new Watermarking(tempDir('atelier-wm-data-'), writeWatermarkFixture(tempDir('atelier-wm-assets-'), undefined, { demo: false }));
    try {
      const [v] = await bare.verify([{ name: 'demo.png', bytes: await demoPng() }]);
      expect(v).toMatchObject({ status: 'not_verified', summary: 'not verified: there are no keys to compare with (create one)', keys: 0, bits: DEMO_BITS });
      await expect(bare.verify([{ name: 'demo.png', bytes: await demoPng() }], 2)).rejects.toThrow(/between 0 and 1/);
    } finally {
      await bare.release();
    }
  });
});

/** A PNG whose header declares width x height over a few rows of data (a decompression bomb's shape). */
function pngHeaderOnly(width: number, height: number): Uint8Array {
  const chunk = (type: string, data: Buffer) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, 'latin1');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([Buffer.from(type, 'latin1'), data])) >>> 0);
    return Buffer.concat([head, data, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  const rows = deflateSync(Buffer.alloc((width * 3 + 1) * 4));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', rows), chunk('IEND', Buffer.alloc(0))]);
}
