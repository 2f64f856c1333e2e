/**
 * Picks the pipeline for a model folder by its family. New families (SD, SDXL) add a case here.
 */
import type { ModelEntry } from '../models/catalog.js';
import type { ProviderChoice } from '../protocol/index.js';
import { EngineError } from '../errors.js';
import { FluxPipeline } from './flux/pipeline.js';
import type { Pipeline } from './pipeline.js';

export async function createPipeline(entry: ModelEntry, provider: ProviderChoice): Promise<Pipeline> {
  switch (entry.spec.pipeline) {
    case 'flux':
      return FluxPipeline.load(entry, provider);
    default:
      throw new EngineError('model_error', `${entry.dir}: no pipeline for this model`);
  }
}
