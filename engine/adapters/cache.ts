/**
 * The content-addressed cache of adapted graphs (baked copies and live-branch graphs), under the
 * user's data folder (DATA_DIR/cache/adapters). An entry's name is a hash of the base file's
 * identity (real path, size, mtime) and of what was done to it (adapter content ids, weights,
 * modes), so asking again for the same thing reuses the entry, and anything else gets a new one.
 *
 * An entry is a folder: `model.onnx`, `adapters.<key>.onnx_data` (the patched or added tensors, when
 * the base keeps its weights in external data) and hard links to the base's external data files
 * at their relative locations. ONNX Runtime 1.30 refuses absolute external-data paths, paths that
 * leave the model's folder and symlinks pointing outside it; hard links pass (as in
 * runtime/graph-cache.ts). Entries are built in a temporary folder and renamed into place, so a
 * crash never leaves a half-written entry. Where hard links are impossible (another drive), the
 * entry's two files are written beside the base model instead, with a notice.
 *
 * Pruning: entries whose base changed or vanished, temporary folders of dead builds, and all but
 * the most recently used entries beyond MAX_ENTRIES.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { linkData } from '../cache/external-data-links.js';
import { EngineError, messageOf } from '../errors.js';
import { parseModel, serializeModel, type ModelProto, type TensorProto } from '../onnx/proto.js';
import { externalDataLocations } from '../onnx/rewrite.js';
import { resolveExternal, setExternal, setInlineBytes } from '../onnx/tensor-data.js';

/** Bumped when baking or branch building changes, so old entries are not reused. */
const CACHE_VERSION = 1;
const MAX_ENTRIES = 12;
const ALIGN = 4096;

interface EntryMeta {
  version: number;
  source: string;
  size: number;
  mtimeMs: number;
  data: string[];
  what: unknown;
}

/** Where a build puts new tensor data: inline, or appended to the entry's data file. */
export class DataSink {
  private fd: number | null = null;
  private offset = 0;
  bytesWritten = 0;

  constructor(
    private readonly file: string,
    readonly external: boolean,
  ) {}

  get location(): string {
    return path.basename(this.file);
  }

  place(tensor: TensorProto, bytes: Uint8Array): void {
    if (!this.external) {
      setInlineBytes(tensor, bytes);
      return;
    }
    this.fd ??= openSync(this.file, 'w');
    const pad = (ALIGN - (this.offset % ALIGN)) % ALIGN;
    if (pad) writeSync(this.fd, new Uint8Array(pad), 0, pad, this.offset);
    this.offset += pad;
    for (let done = 0; done < bytes.length; ) done += writeSync(this.fd, bytes, done, Math.min(1 << 30, bytes.length - done), this.offset + done);
    setExternal(tensor, this.location, this.offset, bytes.length);
    this.offset += bytes.length;
    this.bytesWritten += bytes.length;
  }

  close(): void {
    if (this.fd === null) return;
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = null;
  }
}

export interface BuildContext {
  model: ModelProto;
  /** The folder the base's external data locations are relative to. */
  sourceDir: string;
  sink: DataSink;
}

export interface CachedGraph {
  file: string;
  reused: boolean;
  notice: string | null;
}

function readMeta(dir: string): EntryMeta | null {
  try {
    const meta = JSON.parse(readFileSync(path.join(dir, 'meta.json'), 'utf8')) as EntryMeta;
    return meta.version === CACHE_VERSION ? meta : null;
  } catch {
    return null;
  }
}

/** The entry's own data file: never one of the base's locations (a baked entry can be the base of a live one). */
function dataFileName(key: string, taken: string[]): string {
  let name = `adapters.${key.slice(0, 8)}.onnx_data`;
  for (let i = 2; taken.includes(name); i++) name = `adapters.${key.slice(0, 8)}.${i}.onnx_data`;
  return name;
}

function writeAtomic(file: string, bytes: Uint8Array | string): void {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, file);
}

/** Removes a folder; one in use (open by a session on Windows) is left for a later prune. */
function remove(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch {
    // in use: retried at the next prune
  }
}

function isStale(meta: EntryMeta | null): boolean {
  if (!meta) return true;
  try {
    const s = statSync(meta.source);
    return s.size !== meta.size || s.mtimeMs !== meta.mtimeMs;
  } catch {
    return true;
  }
}

/**
 * Removes stale entries (base changed or gone; repeated, since a live entry built on a baked one
 * goes stale with it), dead temporary folders, and the least recently used beyond `keep` entries.
 */
export function pruneAdapterCache(cacheDir: string, keepDir = '', keep = MAX_ENTRIES): void {
  let names: string[];
  try {
    names = readdirSync(cacheDir);
  } catch {
    return;
  }
  for (const name of names.filter((n) => n.includes('.tmp-'))) {
    const dir = path.join(cacheDir, name);
    try {
      if (Date.now() - statSync(dir).mtimeMs > 3600_000) remove(dir);
    } catch {
      // gone already
    }
  }
  let entries = names.filter((n) => !n.includes('.tmp-')).map((n) => path.join(cacheDir, n)).filter((d) => d !== keepDir);
  const stuck = new Set<string>();
  for (let removed = true; removed; ) {
    removed = false;
    for (const dir of entries) {
      if (!isStale(readMeta(dir))) continue;
      remove(dir);
      if (!existsSync(dir)) removed = true; // one that could not go (in use) does not loop
      else stuck.add(dir);
    }
    entries = entries.filter((d) => existsSync(d) && !stuck.has(d));
  }
  const live = entries.map((dir) => ({ dir, used: statSync(path.join(dir, 'meta.json')).mtimeMs })).sort((a, b) => b.used - a.used);
  for (const { dir } of live.slice(Math.max(0, keep - 1))) remove(dir);
}

export function cacheKey(source: string, what: unknown): { real: string; key: string; size: number; mtimeMs: number } {
  const real = realpathSync(source);
  const stat = statSync(real);
  const key = createHash('sha256').update(JSON.stringify({ v: CACHE_VERSION, source: real, size: stat.size, mtimeMs: stat.mtimeMs, what })).digest('hex').slice(0, 24);
  return { real, key, size: stat.size, mtimeMs: stat.mtimeMs };
}

/**
 * The adapted graph for (`source`, `what`): reused from the cache, or built now by `build`, which
 * edits the parsed base model in place and puts new tensor data through the sink.
 */
export async function cachedGraph(cacheDir: string, source: string, what: unknown, build: (ctx: BuildContext) => Promise<void>): Promise<CachedGraph> {
  const { real, key, size, mtimeMs } = cacheKey(source, what);
  const dir = path.join(cacheDir, key);
  const sourceDir = path.dirname(real);
  const existing = readMeta(dir);
  if (existing && existsSync(path.join(dir, 'model.onnx')) && linkData(sourceDir, dir, existing.data)) {
    const now = new Date();
    utimesSync(path.join(dir, 'meta.json'), now, now); // marks it used (pruning keeps the recent ones)
    return { file: path.join(dir, 'model.onnx'), reused: true, notice: null };
  }
  mkdirSync(cacheDir, { recursive: true });
  pruneAdapterCache(cacheDir, dir);
  const model = parseModel(new Uint8Array(readFileSync(real)), source);
  const data = externalDataLocations(model);
  for (const location of data) {
    const resolved = resolveExternal(sourceDir, location, source);
    if (!existsSync(resolved)) throw new EngineError('model_error', `${source}: its external data file ${location} is missing`);
  }
  const meta: EntryMeta = { version: CACHE_VERSION, source: real, size, mtimeMs, data, what };
  const tmp = path.join(cacheDir, `${key}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(tmp, { recursive: true });
  try {
    if (linkData(sourceDir, tmp, data)) {
      const sink = new DataSink(path.join(tmp, dataFileName(key, data)), data.length > 0);
      try {
        await build({ model, sourceDir, sink });
      } finally {
        sink.close();
      }
      writeAtomic(path.join(tmp, 'model.onnx'), serializeModel(model));
      writeAtomic(path.join(tmp, 'meta.json'), JSON.stringify(meta, null, 2));
      try {
        renameSync(tmp, dir);
      } catch {
        rmSync(dir, { recursive: true, force: true }); // a stale or concurrent entry: replace it
        renameSync(tmp, dir);
      }
      return { file: path.join(dir, 'model.onnx'), reused: false, notice: null };
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return buildBeside(source, real, key, model, build);
}

/** Fallback when hard links fail: the entry's model and data files beside the base model. */
async function buildBeside(source: string, real: string, key: string, model: ModelProto, build: (ctx: BuildContext) => Promise<void>): Promise<CachedGraph> {
  const sourceDir = path.dirname(real);
  const stem = `${path.basename(real, '.onnx')}.atelier-${key.slice(0, 12)}`;
  const file = path.join(sourceDir, `${stem}.onnx`);
  const notice = `${source}: the adapted graph was written beside it (${stem}.onnx): its external data cannot be hard-linked into the cache (another drive?)`;
  if (existsSync(file)) return { file, reused: true, notice };
  try {
    const sink = new DataSink(path.join(sourceDir, `${stem}.onnx_data`), externalDataLocations(model).length > 0);
    try {
      await build({ model, sourceDir, sink });
    } finally {
      sink.close();
    }
    writeAtomic(file, serializeModel(model));
  } catch (error) {
    if (error instanceof EngineError) throw error;
    throw new EngineError('model_error', `${source}: adapters need an adapted copy, but its external data cannot be hard-linked into the cache and its folder is not writable (${messageOf(error)})`);
  }
  return { file, reused: false, notice };
}
