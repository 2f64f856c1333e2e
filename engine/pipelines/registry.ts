/**
 * Picks the pipeline for a model folder by its spec (FLUX: Optimum, BFL and zoo layouts; Stable
 * Diffusion: SD 1.x/2.x, SDXL, Turbo), passing the engine-wide options (low memory, where
 * rewritten graphs are cached).
 */
import type { ModelEntry } from '../models/catalog.js';
import type { ProviderChoice } from '../protocol/index.js';
import { FluxPipeline } from './flux/pipeline.js';
import type { Pipeline } from './pipeline.js';
import { SdPipeline } from './sd/pipeline.js';
import type { PipelineOptions } from './sessions.js';

export type { PipelineOptions };

export async function createPipeline(entry: ModelEntry, provider: ProviderChoice, options: PipelineOptions = {}): Promise<Pipeline> {
  switch (entry.spec.pipeline) {
    case 'flux':
      return FluxPipeline.load(entry, provider, options);
    case 'sd':
      return SdPipeline.load(entry, provider, options);
  }
}
