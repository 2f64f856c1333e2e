/**
 * `atelier watermark`: keys (list, create, rename, delete) with --json, verify (a verdict line per
 * file, exit 2 when a file cannot be checked, --fpr), embed and --watermark on the FLUX twin, and
 * one-line errors with exit 2 for bad flags. Uses the stand-in watermark files
 * (engine/testing/watermark.ts) through ATELIER_WATERMARK_DIR.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodePng } from '../images/codec.js';
import { tempDir } from '../testing/models.js';
import { twinDir } from '../testing/twins.js';
import { DEMO_BITS, keyImage, writeWatermarkFixture } from '../testing/watermark.js';
import { captureCliOutput } from '../testing/cli-output.js';
import { main } from './main.js';

const { stdout, stderr } = captureCliOutput();
const dataDir = tempDir('atelier-cli-wm-');
const files = tempDir('atelier-cli-wm-files-');
const previous = process.env.ATELIER_WATERMARK_DIR;

beforeAll(() => {
  const targets = [
    { module: 'decoder.up_blocks.1.resnets.1.conv2', in: 8, out: 8, kernel: 3 },
    { module: 'decoder.up_blocks.1.upsamplers.0.conv', in: 8, out: 8, kernel: 3 },
  ];
  process.env.ATELIER_WATERMARK_DIR = writeWatermarkFixture(tempDir('atelier-cli-wm-assets-'), targets);
});
afterAll(() => {
  if (previous === undefined) delete process.env.ATELIER_WATERMARK_DIR;
  else process.env.ATELIER_WATERMARK_DIR = previous;
});

const json = () => JSON.parse(stdout.join('')) as Record<string, unknown>;

describe('atelier watermark', () => {
  it('creates, lists, renames and deletes keys', async () => {
    expect(await main(['watermark', 'keys', 'create', 'Studio', '--json', '--data-dir', dataDir])).toBe(0);
    const { key } = json() as { key: { id: string; name: string; bits: string } };
    expect(key).toMatchObject({ name: 'Studio', builtIn: false });
    stdout.length = 0;
    expect(await main(['watermark', 'keys', '--data-dir', dataDir])).toBe(0);
    expect(stdout.join('')).toMatch(new RegExp(`^demo +${DEMO_BITS}  2026-11-28  Demo key \\(built-in demo key\\)\\n${key.id}  ${key.bits}  \\d{4}-\\d\\d-\\d\\d  Studio\\n$`));
    stdout.length = 0;
    expect(await main(['watermark', 'keys', 'rename', key.id, 'Studio 2', '--data-dir', dataDir])).toBe(0);
    expect(stdout).toEqual([`renamed ${key.id} to "Studio 2"\n`]);
    expect(await main(['watermark', 'keys', 'rename', 'demo', 'x', '--data-dir', dataDir])).toBe(2);
    expect(await main(['watermark', 'keys', 'delete', 'key-000000000000', '--data-dir', dataDir])).toBe(2);
    expect(await main(['watermark', 'keys', 'delete', key.id, '--data-dir', dataDir])).toBe(0);
    expect(stderr).toEqual([
      'atelier watermark: Demo key is the built-in demo key; it cannot be renamed\n',
      'atelier watermark: no watermark key "key-000000000000" (see the key list)\n',
    ]);
  });

  it('verifies files, one verdict each, and exits 2 when one cannot be checked', async () => {
    const marked = path.join(files, 'marked.png');
    const plain = path.join(files, 'plain.png');
    writeFileSync(marked, await encodePng(keyImage(DEMO_BITS)));
    writeFileSync(plain, await encodePng(keyImage('5a3c69e1f084'))); // every bit flipped
    expect(await main(['watermark', 'verify', marked, plain, '--data-dir', dataDir])).toBe(0);
    expect(stdout).toEqual([
      `${marked}: verified: 48/48 bits match Demo key (p = 3.55e-15); threshold 41/48 at false-positive rate 1.00e-6\n`,
      `${plain}: not verified: 0/48 bits match the closest key, Demo key (p = 1.00); threshold 41/48 at false-positive rate 1.00e-6\n`,
      '1 of 2 verified (false-positive rate 1.00e-6)\n',
    ]);
    stdout.length = 0;
    const missing = path.join(files, 'missing.png');
    expect(await main(['watermark', 'verify', marked, missing, files, '--json', '--fpr', '1e-3', '--data-dir', dataDir])).toBe(2);
    const out = json() as { fpr: number; verified: number; errors: number; results: Array<{ status: string; summary: string; thresholdK: number }> };
    expect(out).toMatchObject({ fpr: 1e-3, verified: 1, errors: 2 });
    expect(out.results.map((r) => r.status)).toEqual(['verified', 'error', 'error']);
    expect(out.results[0]!.thresholdK).toBe(36);
    expect(out.results[1]!.summary).toBe(`cannot check: ${missing}: file not found`);
    expect(out.results[2]!.summary).toBe(`cannot check: ${files}: a folder, not a file`);
  });

  it('exits 2 with one line for bad flags', async () => {
    expect(await main(['watermark'])).toBe(2);
    expect(await main(['watermark', 'stamp'])).toBe(2);
    expect(await main(['watermark', 'verify'])).toBe(2);
    expect(await main(['watermark', 'verify', 'x.png', '--fpr', '0'])).toBe(2);
    expect(await main(['watermark', 'verify', 'x.png', '--fpr', 'often'])).toBe(2);
    expect(await main(['watermark', 'keys', 'create'])).toBe(2);
    expect(await main(['watermark', 'keys', 'burn', 'x'])).toBe(2);
    expect(await main(['watermark', 'keys', 'create', 'x', '--steps', 'many'])).toBe(2);
    expect(await main(['watermark', 'keys', 'delete', 'x', '--steps', '3'])).toBe(2);
    expect(await main(['watermark', 'embed', '--prompt', 'x'])).toBe(2);
    expect(stderr).toEqual([
      'atelier watermark: watermark needs a command: keys, embed --key ID ..., verify FILE...\n',
      'atelier watermark: unknown "watermark" command "stamp" (keys, embed, verify)\n',
      'atelier watermark: usage: atelier watermark verify FILE... [--fpr X] [--json]\n',
      'atelier watermark: --fpr must be a number between 0 and 1 (exclusive), got "0"\n',
      'atelier watermark: --fpr must be a number between 0 and 1 (exclusive), got "often"\n',
      'atelier watermark: usage: atelier watermark keys create NAME [--steps N]\n',
      'atelier watermark: unknown "watermark keys" action "burn" (list, create NAME, rename ID NAME, delete ID, import FILE [NAME])\n',
      'atelier watermark: --steps must be an integer from 0 to 5000, got "many"\n',
      'atelier watermark: --steps goes with "watermark keys create"\n',
      'atelier watermark: --key is required (an id from: atelier watermark keys)\n',
    ]);
  });

  it('makes images with the key baked in (embed, or --watermark on generate)', async () => {
    const twin = twinDir('flux-optimum');
    expect(await main(['watermark', 'keys', 'create', 'Embed', '--json', '--data-dir', dataDir])).toBe(0);
    const { key } = json() as { key: { id: string } };
    stdout.length = 0;
    const out = path.join(files, 'embedded.png');
    expect(await main(['watermark', 'embed', '--key', key.id, '--model', twin, '--prompt', 'a cube', '--steps', '1', '--width', '64', '--height', '64', '--provider', 'cpu', '--out', out, '--json', '--data-dir', dataDir])).toBe(0);
    expect((json() as { metadata: { watermarkKey?: string } }).metadata.watermarkKey).toBe(key.id);
    stdout.length = 0;
    expect(await main(['generate', '--watermark', key.id, '--model', twin, '--prompt', 'a cube', '--steps', '1', '--width', '64', '--height', '64', '--provider', 'cpu', '--data-dir', dataDir])).toBe(0);
    expect(stdout.join('')).toMatch(new RegExp(`watermark key ${key.id}\\)\\n$`));
    stdout.length = 0;
    expect(await main(['generate', '--model', twin, '--prompt', 'a cube', '--steps', '1', '--width', '64', '--height', '64', '--provider', 'cpu', '--json', '--data-dir', dataDir])).toBe(0);
    expect((json() as { metadata: { watermarkKey?: string } }).metadata.watermarkKey).toBeUndefined(); // --watermark is not remembered
    expect(await main(['generate', '--watermark', 'key-000000000000', '--model', twin, '--prompt', 'x', '--data-dir', dataDir])).toBe(2);
    expect(stderr.at(-1)).toBe('atelier generate: no watermark key "key-000000000000" (see the key list)\n');
  });
});
