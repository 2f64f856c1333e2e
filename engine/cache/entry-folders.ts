/**
 * Cache entry folders: the one mechanism behind the on-disk caches of graphs derived from a model
 * file (runtime/graph-cache.ts: rewritten graphs; adapters/cache.ts: baked and live-branch graphs).
 *
 * An entry is a folder under the cache folder, named by its key, holding `meta.json` (the source
 * file's identity, and whatever the cache records about the derivation) beside the derived files.
 * Entries are built in a temporary sibling folder (`KEY.tmp-PID-RANDOM`) and renamed into place,
 * so a crash or a full disk never leaves a half-built folder that looks like an entry. Pruning
 * removes temporary folders of dead builds (older than an hour), entries without readable
 * metadata, entries whose source changed or vanished, and, when the cache is bounded, the least
 * recently used entries (`touchEntry` marks use).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, utimesSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomicSync } from '../stores/atomic.js';

/** What a derived graph depends on: its source's real path, size and modification time. */
export interface SourceIdentity {
  source: string;
  size: number;
  mtimeMs: number;
}

const META = 'meta.json';
const TEMP_MARK = '.tmp-';
const DEAD_BUILD_MS = 3600_000;

/** The identity of `file` as it is now (symbolic links resolved). */
export function identify(file: string): SourceIdentity {
  const source = realpathSync(file);
  const stat = statSync(source);
  return { source, size: stat.size, mtimeMs: stat.mtimeMs };
}

/** True when the source behind `meta` changed or is gone (or there is no metadata at all). */
export function isStale(meta: SourceIdentity | null): boolean {
  if (!meta) return true;
  try {
    const s = statSync(meta.source);
    return s.size !== meta.size || s.mtimeMs !== meta.mtimeMs;
  } catch {
    return true;
  }
}

/**
 * An entry's metadata, or null when it is missing, not JSON, lacks the source identity, or is
 * refused by `accept` (an older cache version).
 */
export function readEntryMeta<T extends SourceIdentity>(dir: string, accept: (meta: T) => boolean = () => true): T | null {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path.join(dir, META), 'utf8'));
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const meta = value as Partial<SourceIdentity>;
  if (typeof meta.source !== 'string' || typeof meta.size !== 'number' || typeof meta.mtimeMs !== 'number') return null;
  return accept(value as T) ? (value as T) : null;
}

/** The committed entries' folders (builds in progress and dead ones left out). */
export function entryFolders(cacheDir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(cacheDir);
  } catch {
    return [];
  }
  return names.filter((n) => !n.includes(TEMP_MARK)).map((n) => path.join(cacheDir, n));
}

/** A new, empty temporary folder to build the entry `key` in. */
export function startEntry(cacheDir: string, key: string): string {
  const temp = path.join(cacheDir, `${key}${TEMP_MARK}${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(temp, { recursive: true });
  return temp;
}

/**
 * Writes `meta` into the built folder and renames it to the entry's place, replacing a stale or
 * concurrently built entry of the same key. Returns the entry's folder.
 */
export function commitEntry<T extends SourceIdentity>(temp: string, dir: string, meta: T): string {
  writeFileAtomicSync(path.join(temp, META), JSON.stringify(meta, null, 2));
  try {
    renameSync(temp, dir);
  } catch {
    rmSync(dir, { recursive: true, force: true });
    renameSync(temp, dir);
  }
  return dir;
}

/** Removes a build folder that was not committed (a no-op once it was). */
export function abandonEntry(temp: string): void {
  rmSync(temp, { recursive: true, force: true });
}

/** Marks an entry as just used, for the least-recently-used bound. */
export function touchEntry(dir: string): void {
  const now = new Date();
  utimesSync(path.join(dir, META), now, now);
}

/** Removes a folder; one in use (open by a session on Windows) is left for a later prune. */
function remove(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch {
    // in use: retried at the next prune
  }
}

export interface PruneOptions {
  /** An entry never removed (the one being looked up or built). */
  keep?: string;
  /** Keep at most this many entries (counting `keep`), the most recently used; unbounded when absent. */
  maxEntries?: number;
  /** Metadata an entry must have to stay (the cache's version). */
  accept?: (meta: SourceIdentity) => boolean;
}

/**
 * Removes dead builds, entries without accepted metadata, stale entries (repeatedly, since an
 * entry derived from another entry's graph goes stale with it) and, with `maxEntries`, the least
 * recently used. A cache folder that does not exist has nothing to prune.
 */
export function pruneEntries(cacheDir: string, options: PruneOptions = {}): void {
  let names: string[];
  try {
    names = readdirSync(cacheDir);
  } catch {
    return;
  }
  for (const name of names.filter((n) => n.includes(TEMP_MARK))) {
    const dir = path.join(cacheDir, name);
    try {
      if (Date.now() - statSync(dir).mtimeMs > DEAD_BUILD_MS) remove(dir);
    } catch {
      // gone already
    }
  }
  let entries = entryFolders(cacheDir).filter((d) => d !== options.keep);
  const stuck = new Set<string>();
  for (let removed = true; removed; ) {
    removed = false;
    for (const dir of entries) {
      if (!isStale(readEntryMeta(dir, options.accept))) continue;
      remove(dir);
      if (!existsSync(dir)) removed = true; // one that could not go (in use) does not loop
      else stuck.add(dir);
    }
    entries = entries.filter((d) => existsSync(d) && !stuck.has(d));
  }
  if (options.maxEntries === undefined) return;
  const byUse = entries.map((dir) => ({ dir, used: statSync(path.join(dir, META)).mtimeMs })).sort((a, b) => b.used - a.used);
  const room = Math.max(0, options.maxEntries - (options.keep ? 1 : 0));
  for (const { dir } of byUse.slice(room)) remove(dir);
}
