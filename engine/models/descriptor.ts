/**
 * A model folder as the engine understands it: which layout it is, what the user sees of it
 * (ModelInfo) and what its pipeline needs (the spec). Produced by the layout detectors.
 */
import type { ModelInfo } from '../protocol/index.js';
import type { FluxSpec } from '../pipelines/flux/spec.js';
import type { SdSpec } from '../pipelines/sd/spec.js';

export type PipelineSpec = FluxSpec | SdSpec;

export interface ModelDescriptor {
  info: ModelInfo;
  dir: string;
  spec: PipelineSpec;
}

/** What a detector found in a folder: the model, or the problems that stop it loading. */
export interface LayoutReport {
  layout: string;
  /** Files and graphs that were found and checked, for `models validate`. */
  found: string[];
  /** Missing files, mismatched graph inputs/outputs/dtypes: one sentence each. */
  problems: string[];
  /** Things that work but deserve a word (a stand-in scheduler, a graph rewritten at load). */
  notes: string[];
  descriptor: ModelDescriptor | null;
}
