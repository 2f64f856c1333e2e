/** Tokenizer folders that cannot be loaded fail with model_error naming the file and the problem. */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineError } from '../errors.js';
import { TextTokenizer } from './tokenizer.js';

const twinClip = fileURLToPath(new URL('../../models/twins/sd15-diffusers/tokenizer', import.meta.url));

function failure(dir: string): EngineError {
  try {
    TextTokenizer.fromFolder(dir);
  } catch (error) {
    if (error instanceof EngineError) return error;
    throw error;
  }
  throw new Error(`${dir} loaded`);
}

describe('tokenizer folder errors', () => {
  let root: string;
  const folder = (name: string): string => {
    const dir = path.join(root, name);
    mkdirSync(dir, { recursive: true });
    return dir;
  };
  beforeAll(() => {
    root = mkdtempSync(path.join(tmpdir(), 'atelier-tok-'));
  });
  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
  });

  it('names a missing folder and an empty one', () => {
    expect(failure(path.join(root, 'nowhere')).message).toMatch(/nowhere: tokenizer folder not found/);
    const empty = folder('empty');
    const error = failure(empty);
    expect(error.code).toBe('model_error');
    expect(error.message).toContain(`${empty}: no tokenizer.json, vocab.json + merges.txt or spiece.model`);
  });

  it('names vocab.json without merges.txt, a broken tokenizer.json and a pad token outside the vocabulary', () => {
    const noMerges = folder('no-merges');
    copyFileSync(path.join(twinClip, 'vocab.json'), path.join(noMerges, 'vocab.json'));
    expect(failure(noMerges).message).toContain(`${path.join(noMerges, 'merges.txt')}: not found`);

    const broken = folder('broken');
    writeFileSync(path.join(broken, 'tokenizer.json'), '{"model": ');
    expect(failure(broken).message).toContain(`${path.join(broken, 'tokenizer.json')}: this tokenizer file is not valid JSON`);

    const badPad = folder('bad-pad');
    for (const name of ['vocab.json', 'merges.txt']) copyFileSync(path.join(twinClip, name), path.join(badPad, name));
    writeFileSync(path.join(badPad, 'tokenizer_config.json'), JSON.stringify({ pad_token: '<nope>' }));
    expect(failure(badPad).message).toMatch(/vocab\.json: the configured pad_token "<nope>" is not in the vocabulary/);
  });

  it('refuses an encode length that leaves no room for text', () => {
    const clip = TextTokenizer.fromFolder(twinClip);
    expect(() => clip.encode('a cat', 2)).toThrow(/too short/);
    expect(clip.encode('a cat', 3).ids).toHaveLength(3);
    expect(clip.encode('a cat', 3).truncatedTokens).toBeGreaterThan(0);
  });
});
