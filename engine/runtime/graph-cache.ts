/**
 * Prepared copies of model graphs that need a rewrite before ONNX Runtime opens them (bfloat16
 * graph I/O, in-graph sampling: engine/onnx/rewrite.ts), kept in a cache folder of the user's
 * data dir so the rewrite runs once per model file.
 *
 * Keys: an entry is found by the source's path, size and mtime, and named by a hash of its path,
 * size, mtime, the SHA-256 of the graph bytes and the rewrites applied; entries whose source changed
 * or disappeared are pruned on every cache miss and whenever a pipeline is created. Entries are
 * built and pruned by the shared entry-folder mechanism (cache/entry-folders.ts), so a crash
 * mid-build leaves no half-made entry holding links to a model's data.
 *
 * External data: ONNX Runtime 1.30 resolves an initializer's external data relative to the model
 * file and refuses absolute locations, locations that leave the model's folder, and symbolic links
 * that point outside it (all measured; the symlink's target is resolved before the check). So the
 * data files are hard-linked into the entry's folder (no copy, no extra disk space; checked by
 * inode on every use and re-linked when the source was replaced). Where a hard link is impossible
 * (the cache on another drive, a file system without hard links) the prepared graph is written
 * beside the source graph instead, with a notice; if that folder is read-only the error says so.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { abandonEntry, commitEntry, entryFolders, identify, pruneEntries, readEntryMeta, startEntry, type SourceIdentity } from '../cache/entry-folders.js';
import { linkData } from '../cache/external-data-links.js';
import { EngineError, messageOf } from '../errors.js';
import { parseModel, serializeModel } from '../onnx/proto.js';
import { bf16IoToFloat, externalDataLocations, samplingToMean } from '../onnx/rewrite.js';
import { readGraphSignature } from '../onnx/signature.js';
import { resolveExternal } from '../onnx/tensor-data.js';
import { writeFileAtomicSync } from '../stores/atomic.js';

/** Bumped when a rewrite changes, so old entries are not reused. */
const REWRITE_VERSION = 1;

export interface GraphPreparation {
  /** Where prepared graphs are kept (the engine uses DATA_DIR/cache/graphs). */
  cacheDir: string;
  /** Replace in-graph sampling (RandomNormalLike) by the mean (VAE encoders). */
  meanLatents?: boolean;
}

export interface PreparedGraph {
  /** The file to open: the source itself when nothing needed rewriting. */
  file: string;
  /** What was rewritten, for logs and `models validate` ("bfloat16 I/O of hidden_states ..."). */
  changes: string[];
  /** Set when the prepared graph could not go to the cache (written beside the source instead). */
  notice: string | null;
}

interface EntryMeta extends SourceIdentity {
  sha256: string;
  rewrites: string;
  changes: string[];
  /** True when the rewrites found nothing to change: use the source. */
  unchanged: boolean;
  /** External data files linked beside the prepared graph (relative locations). */
  data: string[];
}

/** Which rewrites a graph needs, from its signature and the caller's request (cheap: no weights read). */
export function graphRewrites(file: string, options: Pick<GraphPreparation, 'meanLatents'>): string[] {
  const signature = readGraphSignature(file);
  const rewrites: string[] = [];
  if ([...signature.inputs, ...signature.outputs].some((v) => v.type === 'bfloat16')) rewrites.push('bf16-io');
  if (options.meanLatents) rewrites.push('mean-latents');
  return rewrites;
}

/**
 * Removes entries whose source is gone or changed (their hard links would otherwise keep a deleted
 * or replaced model's data on disk), unreadable ones and dead builds. Runs on every cache miss and
 * whenever a pipeline is created.
 */
export function pruneGraphCache(cacheDir: string, keep = ''): void {
  pruneEntries(cacheDir, { keep });
}

/**
 * The graph to open for `source`: the source itself, or its rewritten copy (made now, or found in
 * the cache). Errors name the source file.
 */
export function prepareGraph(source: string, options: GraphPreparation): PreparedGraph {
  const rewrites = graphRewrites(source, options);
  if (rewrites.length === 0) return { file: source, changes: [], notice: null };
  const identity = identify(source);
  const real = identity.source;
  const rewriteKey = `${rewrites.join('+')}@${REWRITE_VERSION}`;
  const sourceDir = path.dirname(real);
  mkdirSync(options.cacheDir, { recursive: true });

  // Fast path: an entry for this path, size and mtime.
  for (const dir of entryFolders(options.cacheDir)) {
    const meta = readEntryMeta<EntryMeta>(dir);
    if (!meta || meta.source !== real || meta.size !== identity.size || meta.mtimeMs !== identity.mtimeMs || meta.rewrites !== rewriteKey) continue;
    if (meta.unchanged) return { file: source, changes: [], notice: null };
    const file = path.join(dir, 'model.onnx');
    if (existsSync(file) && linkData(sourceDir, dir, meta.data)) return { file, changes: meta.changes, notice: null };
  }

  const bytes = readFileSync(real);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const key = createHash('sha256').update(`${real}:${identity.size}:${identity.mtimeMs}:${sha256}:${rewriteKey}`).digest('hex').slice(0, 24);
  const dir = path.join(options.cacheDir, key);
  pruneGraphCache(options.cacheDir, dir);

  const model = parseModel(bytes, source);
  const changes: string[] = [];
  if (rewrites.includes('bf16-io')) {
    const names = bf16IoToFloat(model);
    if (names.length > 0) changes.push(`bfloat16 I/O made float32 with Cast nodes: ${names.join(', ')}`);
  }
  if (rewrites.includes('mean-latents')) {
    const n = samplingToMean(model);
    if (n > 0) changes.push(`in-graph sampling replaced by the mean (${n} RandomNormalLike)`);
  }
  const data = externalDataLocations(model);
  for (const location of data) {
    const resolved = resolveExternal(sourceDir, location, `${source}`);
    if (!existsSync(resolved)) throw new EngineError('model_error', `${source}: its external data file ${location} is missing`);
  }
  const meta: EntryMeta = { ...identity, sha256, rewrites: rewriteKey, changes, unchanged: changes.length === 0, data };
  const temp = startEntry(options.cacheDir, key);
  try {
    if (meta.unchanged) {
      commitEntry(temp, dir, meta);
      return { file: source, changes: [], notice: null };
    }
    const rewritten = serializeModel(model);
    if (linkData(sourceDir, temp, data)) {
      writeFileAtomicSync(path.join(temp, 'model.onnx'), rewritten); // flushed before the entry is committed
      commitEntry(temp, dir, meta);
      return { file: path.join(dir, 'model.onnx'), changes, notice: null };
    }
    return writeBeside(source, real, key, rewritten, changes, options.cacheDir);
  } finally {
    abandonEntry(temp);
  }
}

/** Fallback when hard links fail: the prepared graph beside the source graph. */
function writeBeside(source: string, real: string, key: string, rewritten: Uint8Array, changes: string[], cacheDir: string): PreparedGraph {
  const beside = path.join(path.dirname(real), `${path.basename(real, '.onnx')}.atelier-${key.slice(0, 12)}.onnx`);
  try {
    if (!existsSync(beside)) writeFileAtomicSync(beside, rewritten);
  } catch (error) {
    throw new EngineError(
      'model_error',
      `${source}: needs a rewritten copy (${changes.join('; ')}), but its external data cannot be hard-linked into ${cacheDir} (another drive?) and its folder is not writable (${messageOf(error)}); put the data folder on the same drive as the model or make the model folder writable`,
    );
  }
  return { file: beside, changes, notice: `${source}: the rewritten graph was written beside it (${path.basename(beside)}): its external data cannot be hard-linked into ${cacheDir}` };
}
