/**
 * What the FLUX pipeline needs to know about a model folder, whatever its layout (Optimum, Black
 * Forest Labs' export, the zoo): where each graph is, the tokenizers, the scheduler, the latent
 * constants and text lengths. Layout detectors (engine/models/layouts) produce it.
 */
import type { FlowMatchConfig } from '../../schedulers/flow-match-euler.js';
import type { LatentRgbProjection } from './preview.js';

export interface FluxSpec {
  pipeline: 'flux';
  /** Kontext models take a context image (instruction edits). */
  kontext: boolean;
  files: { transformer: string; clip: string; t5: string; vaeEncoder: string | null; vaeDecoder: string };
  tokenizerDirs: { clip: string; t5: string };
  scheduler: FlowMatchConfig;
  channels: number;
  vaeScaleFactor: number;
  vae: { scalingFactor: number; shiftFactor: number };
  clipLength: number;
  t5Length: number;
  /** Whether the transformer takes an embedded guidance scalar (dev, Kontext) or not (schnell). */
  guidanceEmbedded: boolean;
  preview: LatentRgbProjection | null;
}
