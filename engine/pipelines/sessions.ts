/**
 * A pipeline's ONNX Runtime sessions, one per named graph, opened on first use and released on
 * demand (low-memory mode drops the text encoders before the denoiser runs) or all together when
 * the model is unloaded. Graphs that need a rewrite first (bfloat16 I/O, in-graph sampling) are
 * prepared through the graph cache (runtime/graph-cache.ts); errors keep naming the source file.
 *
 * Adapters (engine/adapters) attach through one hook: when a graph opens, the hook may name
 * another file to open instead (a baked copy or a live-branch graph of the prepared graph) and
 * feeds to add to every run (live adapters' scales). `setAdapterHook` swaps the hook and
 * releases the sessions whose plan changed, so they reopen through it on next use.
 */
import path from 'node:path';
import { EngineError } from '../errors.js';
import { defaultDataDir } from '../paths.js';
import type { ProviderChoice } from '../protocol/index.js';
import { prepareGraph, pruneGraphCache } from '../runtime/graph-cache.js';
import { openSession, type ExtraFeeds, type ModelSession } from '../runtime/session.js';

/** Options every pipeline factory takes (engine-wide settings). */
export interface PipelineOptions {
  /**
   * Never hold the text encoders and the denoiser at once: encode, release the encoders, then
   * open the denoiser (which is released in turn when a new prompt must be encoded). Cached
   * prompts skip the encoders entirely.
   */
  lowMemory?: boolean;
  /** Where rewritten graphs are cached; DATA_DIR/cache/graphs by default. */
  graphCacheDir?: string;
}

export function defaultGraphCacheDir(): string {
  return path.join(defaultDataDir(), 'cache', 'graphs');
}

export interface GraphSource {
  file: string;
  /** Prepare the graph to return its latent distribution's mean (VAE encoders that sample). */
  meanLatents?: boolean;
}

/** What adapters make of a graph: the file to open instead, and feeds for every run. */
export interface AdaptedGraph {
  file: string;
  feeds: ExtraFeeds | null;
  notices: string[];
}

export interface AdapterHook {
  /** The adapted graph for pipeline graph `name` (prepared as `file`), or null to open `file` as is. */
  resolve(name: string, file: string): Promise<AdaptedGraph | null>;
}

export class SessionPool<Name extends string> {
  private readonly sessions = new Map<Name, ModelSession>();
  private hook: AdapterHook | null = null;
  /** One-line notices from preparing graphs (written beside the source, ...). */
  readonly notices: string[] = [];

  constructor(
    private readonly sources: Readonly<Record<Name, GraphSource | null>>,
    private readonly provider: ProviderChoice,
    private readonly cacheDir: string,
  ) {
    pruneGraphCache(cacheDir);
  }

  has(name: Name): boolean {
    return this.sessions.has(name);
  }

  async get(name: Name): Promise<ModelSession> {
    let session = this.sessions.get(name);
    if (session) return session;
    const source = this.sources[name];
    if (!source) throw new EngineError('model_error', `this model has no ${name} graph`);
    const prepared = prepareGraph(source.file, { cacheDir: this.cacheDir, meanLatents: source.meanLatents ?? false });
    if (prepared.notice) this.notices.push(prepared.notice);
    const adapted = this.hook ? await this.hook.resolve(name, prepared.file) : null;
    if (adapted) this.notices.push(...adapted.notices.filter((n) => !this.notices.includes(n)));
    const file = adapted?.file ?? prepared.file;
    try {
      session = await openSession(file, { provider: this.provider });
    } catch (error) {
      if (file === source.file || !(error instanceof EngineError)) throw error;
      const how = [prepared.changes.join('; '), adapted ? 'with adapters' : ''].filter(Boolean).join('; ');
      throw new EngineError('model_error', `${source.file} (prepared as ${file}: ${how}): ${error.message}`, { cause: error });
    }
    session.setExtraFeeds(adapted?.feeds ?? null);
    this.sessions.set(name, session);
    return session;
  }

  /** The source file of each graph the model has. */
  files(): Array<{ name: Name; file: string }> {
    return (Object.entries(this.sources) as Array<[Name, GraphSource | null]>).filter((e): e is [Name, GraphSource] => e[1] !== null).map(([name, s]) => ({ name, file: s.file }));
  }

  /** Installs the adapter hook (or none) and releases the sessions of `changed` graphs. */
  async setAdapterHook(hook: AdapterHook | null, changed: Name[]): Promise<void> {
    this.hook = hook;
    await this.release(...changed);
  }

  /** Releases the named sessions that are open. */
  async release(...names: Name[]): Promise<void> {
    const open = names.map((n) => [n, this.sessions.get(n)] as const).filter((e): e is readonly [Name, ModelSession] => e[1] !== undefined);
    for (const [n] of open) this.sessions.delete(n);
    await Promise.all(open.map(([, s]) => s.release()));
  }

  async releaseAll(): Promise<void> {
    await this.release(...this.sessions.keys());
  }
}
