/**
 * The engine's configuration from its command line and environment, shared by the engine
 * process and the CLI: the data folder and the model roots (the embedded default first).
 */
import path from 'node:path';
import type { ModelRoot } from '../models/catalog.js';
import { defaultDataDir, embeddedModelDir } from '../paths.js';

export interface EngineConfig {
  dataDir: string;
  modelRoots: ModelRoot[];
  /** ATELIER_LOW_MEMORY=1: text encoders and denoiser never loaded together (e.g. FLUX on 24 GB). */
  lowMemory: boolean;
  /** ATELIER_MIN_STEP_MS: pace denoising steps (the end-to-end suite; see EngineOptions.minStepMs). */
  minStepMs: number;
}

/** `extraModelDirs` are folders the user named (flags, ATELIER_MODELS): problems there are reported. */
export function engineConfig(options: { dataDir?: string; extraModelDirs?: string[] } = {}): EngineConfig {
  const dataDir = path.resolve(options.dataDir ?? defaultDataDir());
  const fromEnv = (process.env.ATELIER_MODELS ?? '').split(path.delimiter).filter(Boolean);
  const extra = [...(options.extraModelDirs ?? []), ...fromEnv].map((d) => ({ dir: path.resolve(d), explicit: true }));
  return {
    dataDir,
    modelRoots: [{ dir: embeddedModelDir(), embedded: true }, { dir: path.join(dataDir, 'models') }, ...extra],
    lowMemory: /^(1|true|yes|on)$/i.test(process.env.ATELIER_LOW_MEMORY ?? ''),
    minStepMs: Math.max(0, Math.min(10_000, Number(process.env.ATELIER_MIN_STEP_MS) || 0)),
  };
}
