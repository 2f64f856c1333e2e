/**
 * What CLI commands share: the common flags, an in-process engine with the chosen model loaded,
 * and how results are printed (human lines, or one JSON object with --json).
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { Engine } from '../engine.js';
import { EngineError } from '../errors.js';
import { engineConfig } from '../host/config.js';
import { ProviderChoice, type ModelInfo } from '../protocol/index.js';
import { bool, str, UsageError, type Flags } from './usage.js';

export const COMMON_FLAGS = {
  model: { type: 'string' },
  provider: { type: 'string' },
  'data-dir': { type: 'string' },
  models: { type: 'string' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean' },
} as const;

export interface Output {
  json: boolean;
  quiet: boolean;
  /** A human-readable line (suppressed with --json and --quiet). */
  line(text: string): void;
  /** The one JSON object of a --json run. */
  result(value: unknown): void;
}

export function outputFor(flags: Flags): Output {
  const json = bool(flags, 'json');
  const quiet = bool(flags, 'quiet');
  return {
    json,
    quiet,
    line: (text) => {
      if (!json && !quiet) process.stdout.write(`${text}\n`);
    },
    result: (value) => {
      if (json) process.stdout.write(`${JSON.stringify(value)}\n`);
    },
  };
}

export function engineFor(flags: Flags, extraModelDirs: string[] = []): Engine {
  const models = str(flags, 'models');
  const config = engineConfig({
    dataDir: str(flags, 'data-dir'),
    extraModelDirs: [...(models ? models.split(',').filter(Boolean) : []), ...extraModelDirs],
  });
  return new Engine({ dataDir: config.dataDir, modelRoots: config.modelRoots, previewEvery: 0, lowMemory: config.lowMemory });
}

function providerFlag(flags: Flags): ProviderChoice {
  const value = str(flags, 'provider') ?? 'auto';
  const parsed = ProviderChoice.safeParse(value);
  if (!parsed.success) throw new UsageError(`--provider must be one of auto, cpu, cuda, webgpu, dml, coreml; got "${value}"`);
  return parsed.data;
}

/**
 * An engine with the model of --model loaded (an id from `models list`, or a model folder), or the
 * embedded default. Notices (provider fallback) go to stderr.
 */
export async function engineWithModel(flags: Flags): Promise<{ engine: Engine; model: ModelInfo }> {
  const provider = providerFlag(flags);
  const modelFlag = str(flags, 'model');
  const isDir = modelFlag !== undefined && (modelFlag.includes('/') || modelFlag.includes('\\') || modelFlag.startsWith('.'));
  if (isDir && (!existsSync(modelFlag) || !statSync(modelFlag).isDirectory())) throw new UsageError(`--model ${modelFlag}: model folder not found`);
  const engine = engineFor(flags, isDir ? [modelFlag] : []);
  const models = engine.listModels();
  let model: ModelInfo | undefined;
  if (isDir) model = models.find((m) => path.resolve(m.path) === path.resolve(modelFlag));
  else if (modelFlag) model = models.find((m) => m.id === modelFlag);
  else model = models.find((m) => m.embedded) ?? models[0];
  if (!model) {
    if (isDir) throw new UsageError(`--model ${modelFlag}: not a model folder Atelier can use (no atelier.json)`);
    if (modelFlag) throw new UsageError(`--model ${modelFlag}: no such model (see "atelier models list")`);
    throw new EngineError('not_found', 'no model found: the embedded default is missing; reinstall or pass --model DIR');
  }
  const loaded = await engine.loadModel(model.id, provider);
  if (loaded.notice && !bool(flags, 'quiet')) process.stderr.write(`atelier: ${loaded.notice}\n`);
  return { engine, model: loaded.model };
}
