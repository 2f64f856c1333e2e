import { promises as fs, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { JobMetadata } from '../protocol/index.js';
import { tempDir } from '../testing/models.js';
import { writeFileAtomic, writeFileAtomicSync, writeJsonAtomic } from './atomic.js';
import { HistoryStore } from './history.js';

const meta = (createdAt: string): JobMetadata => ({
  kind: 'generate',
  model: 'm',
  text: 'a red circle',
  seed: 1,
  steps: 2,
  guidance: 1,
  width: 8,
  height: 8,
  provider: 'cpu',
  createdAt,
  engineVersion: '0.1.0',
});

describe('writeFileAtomic', () => {
  it('replaces a file whole and leaves no temporary files', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'sub', 'lib.json');
    await writeJsonAtomic(file, { a: 1 });
    await writeJsonAtomic(file, { a: 2 });
    expect(JSON.parse(await fs.readFile(file, 'utf8'))).toEqual({ a: 2 });
    expect(readdirSync(path.dirname(file))).toEqual(['lib.json']);
  });

  it('keeps the old file when the write fails', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'keep.txt');
    await writeFileAtomic(file, 'old');
    await fs.mkdir(path.join(dir, 'blocker'));
    // renaming a file over a non-empty directory fails: the target stays, the temp file is removed
    await fs.writeFile(path.join(dir, 'blocker', 'x'), 'x');
    await expect(writeFileAtomic(path.join(dir, 'blocker'), 'new')).rejects.toThrow();
    expect(await fs.readFile(file, 'utf8')).toBe('old');
    expect(readdirSync(dir).sort()).toEqual(['blocker', 'keep.txt']);
  });

  it('writes through a symbolic link and keeps the file\'s permissions', async () => {
    const dir = tempDir();
    const real = path.join(dir, 'real.png');
    await fs.writeFile(real, 'old');
    await fs.chmod(real, 0o640);
    const link = path.join(dir, 'link.png');
    await fs.symlink(real, link);
    await writeFileAtomic(link, 'new');
    expect((await fs.lstat(link)).isSymbolicLink()).toBe(true);
    expect(await fs.readFile(real, 'utf8')).toBe('new');
    expect((await fs.stat(real)).mode & 0o777).toBe(0o640);
    expect(readdirSync(dir).sort()).toEqual(['link.png', 'real.png']);
  });

  it('has a synchronous twin with the same guarantees', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'meta.json');
    writeFileAtomicSync(file, 'old');
    writeFileAtomicSync(file, new TextEncoder().encode('new'));
    expect(await fs.readFile(file, 'utf8')).toBe('new');
    await fs.mkdir(path.join(dir, 'blocker'));
    await fs.writeFile(path.join(dir, 'blocker', 'x'), 'x');
    expect(() => writeFileAtomicSync(path.join(dir, 'blocker'), 'new')).toThrow();
    expect(readdirSync(dir).sort()).toEqual(['blocker', 'meta.json']);
  });
});

describe('HistoryStore', () => {
  const id = (n: number) => `job-00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

  it('lists saved outputs newest first and reads their images', async () => {
    const store = new HistoryStore(path.join(tempDir(), 'outputs'));
    await store.save(id(1), new Uint8Array([1]), meta('2026-01-01T00:00:00.000Z'));
    await store.save(id(2), new Uint8Array([2]), meta('2026-01-02T00:00:00.000Z'));
    const entries = await store.list();
    expect(entries.map((e) => e.jobId)).toEqual([id(2), id(1)]);
    expect(Array.from(await store.readImage(id(1)))).toEqual([1]);
    expect(await store.list(1)).toHaveLength(1);
  });

  it('skips unreadable entries with a warning and refuses ids that are not job ids', async () => {
    const dir = path.join(tempDir(), 'outputs');
    const store = new HistoryStore(dir);
    await store.save(id(3), new Uint8Array([3]), meta('2026-01-03T00:00:00.000Z'));
    await fs.writeFile(path.join(dir, `${id(4)}.json`), '{"kind": "generate", "seed": "x"');
    const warnings: string[] = [];
    expect((await store.list(10, (w) => warnings.push(w))).map((e) => e.jobId)).toEqual([id(3)]);
    expect(warnings[0]).toMatch(new RegExp(`skipped ${id(4)}\\.json`));
    await expect(store.readImage('../../etc/passwd')).rejects.toMatchObject({ code: 'not_found' });
    await expect(store.readImage(id(9))).rejects.toMatchObject({ code: 'not_found' });
    expect(await new HistoryStore(path.join(dir, 'missing')).list()).toEqual([]);
  });
});
