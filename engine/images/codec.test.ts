import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodeImage, encodeJpeg, encodePng, probeImage, resizeImage } from './codec.js';
import { readPngText } from './png-text.js';

const solid = (width: number, height: number, channels: 1 | 2 | 3 | 4, value: number[]) =>
  sharp({ create: { width, height, channels: channels as 3 | 4, background: { r: value[0]!, g: value[1] ?? value[0]!, b: value[2] ?? value[0]!, alpha: (value[3] ?? 255) / 255 } } });

/** A PNG that declares width x height with a few rows of zeros: what a decompression bomb's header looks like. */
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
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const rows = deflateSync(Buffer.alloc((width * 3 + 1) * 4));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', rows), chunk('IEND', Buffer.alloc(0))]);
}

describe('decodeImage', () => {
  it('decodes PNG and JPEG to RGB', async () => {
    const png = await solid(5, 4, 3, [10, 20, 30]).png().toBuffer();
    const rgb = await decodeImage(png, { name: 'a.png' });
    expect([rgb.width, rgb.height, rgb.data.length]).toEqual([5, 4, 60]);
    expect(Array.from(rgb.data.subarray(0, 3))).toEqual([10, 20, 30]);
    const jpeg = await solid(8, 8, 3, [200, 100, 50]).jpeg().toBuffer();
    expect((await decodeImage(jpeg, { name: 'b.jpg' })).width).toBe(8);
  });

  it('flattens alpha onto white and expands grayscale and CMYK to RGB', async () => {
    const transparent = await solid(2, 2, 4, [0, 0, 0, 0]).png().toBuffer();
    expect(Array.from((await decodeImage(transparent, { name: 't.png' })).data.subarray(0, 3))).toEqual([255, 255, 255]);
    const gray = await solid(3, 3, 3, [90, 90, 90]).toColourspace('b-w').png().toBuffer();
    expect((await probeImage(gray, { name: 'g.png' })).channels).toBe(1);
    expect(Array.from((await decodeImage(gray, { name: 'g.png' })).data.subarray(0, 3))).toEqual([90, 90, 90]);
    const cmyk = await solid(4, 4, 3, [255, 0, 0]).toColourspace('cmyk').jpeg().toBuffer();
    expect((await probeImage(cmyk, { name: 'c.jpg' })).space).toBe('cmyk');
    const red = await decodeImage(cmyk, { name: 'c.jpg' });
    expect(red.data[0]!).toBeGreaterThan(200);
    expect(red.data[1]!).toBeLessThan(80);
  });

  it('takes the first frame of an animation', async () => {
    const frames = Buffer.concat([Buffer.alloc(4 * 4 * 4, 255), Buffer.alloc(4 * 4 * 4, 0)]);
    const gif = await sharp(frames, { raw: { width: 4, height: 8, channels: 4, pageHeight: 4 } as never }).gif().toBuffer();
    const info = await probeImage(gif, { name: 'anim.gif' });
    expect(info.pages).toBe(2);
    const first = await decodeImage(gif, { name: 'anim.gif' });
    expect([first.width, first.height]).toEqual([4, 4]);
  });

  it('refuses a decompression bomb from its header, before decoding', async () => {
    const bomb = pngHeaderOnly(20000, 20000);
    expect((await probeImage(bomb, { name: 'bomb.png' })).width).toBe(20000);
    const started = performance.now();
    await expect(decodeImage(bomb, { name: 'bomb.png' })).rejects.toThrow(/bomb\.png: 20000x20000 is larger than the 67,108,864-pixel limit; refused before decoding/);
    expect(performance.now() - started).toBeLessThan(2000);
  }, 60_000);

  it('names the file for empty, non-image and corrupt input', async () => {
    await expect(decodeImage(new Uint8Array(), { name: 'empty.png' })).rejects.toThrow('empty.png: the file is empty');
    await expect(decodeImage(new TextEncoder().encode('just some notes'), { name: 'notes.txt' })).rejects.toMatchObject({
      code: 'bad_input',
      message: expect.stringMatching(/^notes\.txt: not an image that can be read/),
    });
    const png = await solid(64, 64, 3, [1, 2, 3]).png().toBuffer();
    const corrupt = Buffer.from(png);
    corrupt.fill(0x41, 60, corrupt.length - 20);
    await expect(decodeImage(corrupt, { name: 'broken.png' })).rejects.toThrow(/^broken\.png: /);
  });
});

describe('encoding', () => {
  it('writes PNG text chunks that sharp and our reader see', async () => {
    const image = { width: 2, height: 2, data: new Uint8Array(12).fill(128) };
    const png = await encodePng(image, [
      { keyword: 'parameters', text: 'a red circle\nSteps: 20' },
      { keyword: 'atelier', text: '{"emoji":"✨"}', international: true },
    ]);
    const text = readPngText(png);
    expect(text.get('parameters')).toBe('a red circle\nSteps: 20');
    expect(text.get('atelier')).toBe('{"emoji":"✨"}');
    const meta = await sharp(png).metadata();
    expect(meta.width).toBe(2);
    const decoded = await decodeImage(png, { name: 'out.png' });
    expect(Array.from(decoded.data)).toEqual(Array.from(image.data));
    const jpeg = await encodeJpeg(image);
    expect(Array.from(jpeg.subarray(0, 2))).toEqual([0xff, 0xd8]);
  });

  it('resizes with cover and fill', async () => {
    const image = { width: 4, height: 2, data: new Uint8Array(24).fill(50) };
    expect((await resizeImage(image, 2, 2, 'cover')).data.length).toBe(12);
    expect(await resizeImage(image, 4, 2)).toBe(image);
  });
});
