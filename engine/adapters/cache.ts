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
 * runtime/graph-cache.ts). Entries are built in a temporary folder and renamed into place, and
 * pruned, by the shared entry-folder mechanism (cache/entry-folders.ts), so a crash never leaves
 * a half-written entry. Where hard links are impossible (another drive), the entry's two files are
 * written beside the base model instead, with a notice.
 *
 * Pruning: entries whose base changed or vanished, temporary folders of dead builds, and all but
 * the MAX_ENTRIES most recently used entries.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { abandonEntry, commitEntry, identify, pruneEntries, readEntryMeta, startEntry, touchEntry, type SourceIdentity } from '../cache/entry-folders.js';
import { linkData } from '../cache/external-data-links.js';
import { EngineError, messageOf } from '../errors.js';
import { parseModel, serializeModel, type ModelProto, type TensorProto } from '../onnx/proto.js';
import { externalDataLocations } from '../onnx/rewrite.js';
import { resolveExternal, setExternal, setInlineBytes } from '../onnx/tensor-data.js';
import { writeFileAtomicSync } from '../stores/atomic.js';

/** Bumped when baking or branch building changes, so old entries are not reused. */
const CACHE_VERSION = 1;
const MAX_ENTRIES = 12;
const ALIGN = 4096;

interface EntryMeta extends SourceIdentity {
  version: number;
  data: string[];
  what: unknown;
}

/** Entries of another cache version are pruned, never reused. */
const currentVersion = (meta: SourceIdentity): boolean => (meta as Partial<EntryMeta>).version === CACHE_VERSION;

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

/** The entry's own data file: never one of the base's locations (a baked entry can be the base of a live one). */
function dataFileName(key: string, taken: string[]): string {
  let name = `adapters.${key.slice(0, 8)}.onnx_data`;
  for (let i = 2; taken.includes(name); i++) name = `adapters.${key.slice(0, 8)}.${i}.onnx_data`;
  return name;
}

/** Removes stale and dead entries and all but the `keep` most recently used (`keepDir` among them). */
export function pruneAdapterCache(cacheDir: string, keepDir = '', keep = MAX_ENTRIES): void {
  pruneEntries(cacheDir, { keep: keepDir, maxEntries: keep, accept: currentVersion });
}

function cacheKey(source: string, what: unknown): SourceIdentity & { key: string } {
  const identity = identify(source);
  const key = createHash('sha256').update(JSON.stringify({ v: CACHE_VERSION, ...identity, what })).digest('hex').slice(0, 24);
  return { ...identity, key };
}

/**
 * The adapted graph for (`source`, `what`): reused from the cache, or built now by `build`, which
 * edits the parsed base model in place and puts new tensor data through the sink.
 */
export async function cachedGraph(cacheDir: string, source: string, what: unknown, build: (ctx: BuildContext) => Promise<void>): Promise<CachedGraph> {
  const { key, ...identity } = cacheKey(source, what);
  const real = identity.source;
  const dir = path.join(cacheDir, key);
  const sourceDir = path.dirname(real);
  const existing = readEntryMeta<EntryMeta>(dir, currentVersion);
  if (existing && existsSync(path.join(dir, 'model.onnx')) && linkData(sourceDir, dir, existing.data)) {
    touchEntry(dir); // pruning keeps the recently used
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
  const meta: EntryMeta = { version: CACHE_VERSION, ...identity, data, what };
  const tmp = startEntry(cacheDir, key);
  try {
    if (linkData(sourceDir, tmp, data)) {
      const sink = new DataSink(path.join(tmp, dataFileName(key, data)), data.length > 0);
      try {
        await build({ model, sourceDir, sink });
      } finally {
        sink.close();
      }
      writeFileAtomicSync(path.join(tmp, 'model.onnx'), serializeModel(model));
      commitEntry(tmp, dir, meta);
      return { file: path.join(dir, 'model.onnx'), reused: false, notice: null };
    }
  } finally {
    abandonEntry(tmp);
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
    writeFileAtomicSync(file, serializeModel(model));
  } catch (error) {
    if (error instanceof EngineError) throw error;
    throw new EngineError('model_error', `${source}: adapters need an adapted copy, but its external data cannot be hard-linked into the cache and its folder is not writable (${messageOf(error)})`);
  }
  return { file, reused: false, notice };
}
