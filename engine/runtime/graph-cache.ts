/**
 * Prepared copies of model graphs that need a rewrite before ONNX Runtime opens them (bfloat16
 * graph I/O, in-graph sampling: engine/onnx/rewrite.ts), kept in a cache folder of the user's
 * data dir so the rewrite runs once per model file.
 *
 * Keys: an entry is found by the source's path, size and mtime, and named by a hash of its size,
 * mtime, the SHA-256 of the graph bytes and the rewrites applied; entries whose source changed or
 * disappeared are pruned on every cache miss and whenever a pipeline is created.
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
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { linkData } from '../cache/external-data-links.js';
import { EngineError, messageOf } from '../errors.js';
import { parseModel, serializeModel } from '../onnx/proto.js';
import { bf16IoToFloat, externalDataLocations, samplingToMean } from '../onnx/rewrite.js';
import { readGraphSignature } from '../onnx/signature.js';

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

interface EntryMeta {
  source: string;
  size: number;
  mtimeMs: number;
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

function readMeta(dir: string): EntryMeta | null {
  try {
    return JSON.parse(readFileSync(path.join(dir, 'meta.json'), 'utf8')) as EntryMeta;
  } catch {
    return null;
  }
}

function writeAtomic(file: string, bytes: Uint8Array | string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, file);
}

/**
 * Removes entries whose source is gone or changed: their hard links would otherwise keep a deleted
 * or replaced model's data on disk. Runs on every cache miss and whenever a pipeline is created.
 */
export function pruneGraphCache(cacheDir: string, keep = ''): void {
  let names: string[];
  try {
    names = readdirSync(cacheDir);
  } catch {
    return;
  }
  for (const name of names) {
    const dir = path.join(cacheDir, name);
    if (dir === keep) continue;
    const meta = readMeta(dir);
    if (!meta) continue;
    let stale = true;
    try {
      const s = statSync(meta.source);
      stale = s.size !== meta.size || s.mtimeMs !== meta.mtimeMs;
    } catch {
      stale = true;
    }
    if (stale) rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The graph to open for `source`: the source itself, or its rewritten copy (made now, or found in
 * the cache). Errors name the source file.
 */
export function prepareGraph(source: string, options: GraphPreparation): PreparedGraph {
  const rewrites = graphRewrites(source, options);
  if (rewrites.length === 0) return { file: source, changes: [], notice: null };
  const real = realpathSync(source);
  const stat = statSync(real);
  const rewriteKey = `${rewrites.join('+')}@${REWRITE_VERSION}`;
  const sourceDir = path.dirname(real);
  mkdirSync(options.cacheDir, { recursive: true });

  // Fast path: an entry for this path, size and mtime.
  for (const name of readdirSync(options.cacheDir)) {
    const dir = path.join(options.cacheDir, name);
    const meta = readMeta(dir);
    if (!meta || meta.source !== real || meta.size !== stat.size || meta.mtimeMs !== stat.mtimeMs || meta.rewrites !== rewriteKey) continue;
    if (meta.unchanged) return { file: source, changes: [], notice: null };
    const file = path.join(dir, 'model.onnx');
    if (existsSync(file) && linkData(sourceDir, dir, meta.data)) return { file, changes: meta.changes, notice: null };
  }

  const bytes = readFileSync(real);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const key = createHash('sha256').update(`${stat.size}:${stat.mtimeMs}:${sha256}:${rewriteKey}`).digest('hex').slice(0, 24);
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
    const resolved = path.resolve(sourceDir, location);
    if (path.isAbsolute(location) || path.relative(sourceDir, resolved).startsWith('..')) {
      throw new EngineError('model_error', `${source}: its external data "${location}" lies outside the model's folder, which ONNX Runtime refuses`);
    }
    if (!existsSync(resolved)) throw new EngineError('model_error', `${source}: its external data file ${location} is missing`);
  }
  const meta: EntryMeta = { source: real, size: stat.size, mtimeMs: stat.mtimeMs, sha256, rewrites: rewriteKey, changes, unchanged: changes.length === 0, data };
  mkdirSync(dir, { recursive: true });
  if (meta.unchanged) {
    writeAtomic(path.join(dir, 'meta.json'), JSON.stringify(meta, null, 2));
    return { file: source, changes: [], notice: null };
  }
  const rewritten = serializeModel(model);
  if (linkData(sourceDir, dir, data)) {
    writeAtomic(path.join(dir, 'model.onnx'), rewritten);
    writeAtomic(path.join(dir, 'meta.json'), JSON.stringify(meta, null, 2));
    return { file: path.join(dir, 'model.onnx'), changes, notice: null };
  }
  rmSync(dir, { recursive: true, force: true });
  const beside = path.join(sourceDir, `${path.basename(real, '.onnx')}.atelier-${key.slice(0, 12)}.onnx`);
  try {
    if (!existsSync(beside)) writeAtomic(beside, rewritten);
  } catch (error) {
    throw new EngineError(
      'model_error',
      `${source}: needs a rewritten copy (${changes.join('; ')}), but its external data cannot be hard-linked into ${options.cacheDir} (another drive?) and its folder is not writable (${messageOf(error)}); put the data folder on the same drive as the model or make the model folder writable`,
    );
  }
  return { file: beside, changes, notice: `${source}: the rewritten graph was written beside it (${path.basename(beside)}): its external data cannot be hard-linked into ${options.cacheDir}` };
}
