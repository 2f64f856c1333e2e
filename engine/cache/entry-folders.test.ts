/**
 * Cache entry folders: a build is invisible until committed, and pruning removes what a crash or
 * a change of the source leaves behind (dead builds, folders without metadata, stale and refused
 * entries), keeps young builds, and bounds the cache by recent use.
 */
import { existsSync, mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../testing/models.js';
import { abandonEntry, commitEntry, identify, isStale, pruneEntries, readEntryMeta, startEntry, touchEntry } from './entry-folders.js';

function source(dir: string, name: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, name);
  return file;
}

function entry(cacheDir: string, key: string, file: string, extra: Record<string, unknown> = {}): string {
  const temp = startEntry(cacheDir, key);
  writeFileSync(path.join(temp, 'model.onnx'), 'graph');
  return commitEntry(temp, path.join(cacheDir, key), { ...identify(file), ...extra });
}

const hoursAgo = (h: number) => new Date(Date.now() - h * 3600_000);

describe('entry folders', () => {
  it('commits a built folder whole and reads its metadata back', () => {
    const dir = tempDir();
    const cacheDir = path.join(dir, 'cache');
    const file = source(dir, 'a.onnx');
    const temp = startEntry(cacheDir, 'k1');
    expect(readdirSync(cacheDir)).toEqual([path.basename(temp)]);
    expect(readEntryMeta(path.join(cacheDir, 'k1'))).toBeNull();
    writeFileSync(path.join(temp, 'model.onnx'), 'graph');
    const done = commitEntry(temp, path.join(cacheDir, 'k1'), { ...identify(file), note: 'x' });
    expect(readdirSync(cacheDir)).toEqual(['k1']);
    expect(readEntryMeta<{ source: string; size: number; mtimeMs: number; note: string }>(done)).toMatchObject({ size: 6, note: 'x' });
    abandonEntry(temp); // after the commit: nothing to remove, and no error
    expect(existsSync(done)).toBe(true);
    // committing the same key again replaces the entry
    const again = entry(cacheDir, 'k1', file, { note: 'y' });
    expect(readEntryMeta<{ source: string; size: number; mtimeMs: number; note: string }>(again)?.note).toBe('y');
  });

  it('treats missing, broken or incomplete metadata as no entry, and a changed source as stale', () => {
    const dir = tempDir();
    const file = source(dir, 'a.onnx');
    const cacheDir = path.join(dir, 'cache');
    const done = entry(cacheDir, 'k', file);
    expect(isStale(readEntryMeta(done))).toBe(false);
    writeFileSync(file, 'changed!');
    expect(isStale(readEntryMeta(done))).toBe(true);
    writeFileSync(path.join(done, 'meta.json'), '{"source": "a.onnx"');
    expect(readEntryMeta(done)).toBeNull();
    writeFileSync(path.join(done, 'meta.json'), '{"source": "a.onnx", "size": "6"}');
    expect(readEntryMeta(done)).toBeNull();
    expect(isStale(null)).toBe(true);
  });

  it('prunes dead builds, folders without metadata, stale and refused entries, and keeps the rest', () => {
    const dir = tempDir();
    const cacheDir = path.join(dir, 'cache');
    const kept = entry(cacheDir, 'kept', source(dir, 'a.onnx'), { version: 2 });
    const gone = source(dir, 'b.onnx');
    const stale = entry(cacheDir, 'stale', gone, { version: 2 });
    writeFileSync(gone, 'rewritten');
    const old = entry(cacheDir, 'old', source(dir, 'c.onnx'), { version: 1 });
    const crashed = path.join(cacheDir, 'crashed'); // an entry a crash left without metadata
    mkdirSync(crashed);
    writeFileSync(path.join(crashed, 'weights.bin'), 'data');
    const young = startEntry(cacheDir, 'young');
    const dead = startEntry(cacheDir, 'dead');
    utimesSync(dead, hoursAgo(2), hoursAgo(2));

    pruneEntries(cacheDir, { accept: (m) => (m as { version?: number }).version === 2 });
    expect(readdirSync(cacheDir).sort()).toEqual([path.basename(kept), path.basename(young)].sort());
    for (const d of [stale, old, crashed, dead]) expect(existsSync(d)).toBe(false);
  });

  it('bounds the cache to the most recently used entries, never removing the one kept', () => {
    const dir = tempDir();
    const cacheDir = path.join(dir, 'cache');
    const entries = ['e0', 'e1', 'e2', 'e3'].map((k, i) => {
      const e = entry(cacheDir, k, source(dir, `${k}.onnx`));
      utimesSync(path.join(e, 'meta.json'), hoursAgo(10 - i), hoursAgo(10 - i));
      return e;
    });
    touchEntry(entries[0]!); // the oldest becomes the most recent
    pruneEntries(cacheDir, { keep: entries[1], maxEntries: 3 });
    expect(readdirSync(cacheDir).sort()).toEqual(['e0', 'e1', 'e3']);
  });

  it('has nothing to prune in a cache folder that does not exist', () => {
    expect(() => pruneEntries(path.join(tempDir(), 'none'))).not.toThrow();
  });
});
