/**
 * Model folder detection: which layout a folder is (by its files, never by its name), whether it
 * is complete and consistent (graph inputs, outputs and dtypes read from the graphs), and the
 * descriptor the engine loads. `atelier models validate DIR` prints the report.
 */
import { existsSync, statSync } from 'node:fs';
import { EngineError } from '../errors.js';
import type { LayoutReport, ModelDescriptor } from './descriptor.js';
import { describeBflFlux, isBflFlux } from './layouts/bfl-flux.js';
import { describeOptimumFlux, isOptimumFlux } from './layouts/optimum-flux.js';
import { describeStableDiffusion, isStableDiffusion } from './layouts/stable-diffusion.js';

interface Detector {
  /** The layout names its reports use. */
  layouts: string[];
  matches(dir: string): boolean;
  describe(dir: string, embedded: boolean): LayoutReport;
}

/** First match wins: BFL's *.opt folders, then Stable Diffusion (model_index or unet/), then FLUX. */
const DETECTORS: Detector[] = [
  { layouts: ['bfl-flux'], matches: isBflFlux, describe: describeBflFlux },
  { layouts: ['diffusers-onnx-sd', 'optimum-sd'], matches: isStableDiffusion, describe: describeStableDiffusion },
  { layouts: ['optimum-flux'], matches: isOptimumFlux, describe: describeOptimumFlux },
];

export const KNOWN_LAYOUTS = DETECTORS.flatMap((d) => d.layouts);

export function looksLikeModelFolder(dir: string): boolean {
  return DETECTORS.some((d) => d.matches(dir));
}

/** The detection report for a folder; `descriptor` is null when something is wrong. */
export function inspectModelFolder(dir: string, embedded = false): LayoutReport {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    return { layout: 'none', found: [], problems: [`${dir}: model folder not found`], notes: [], descriptor: null };
  }
  const detector = DETECTORS.find((d) => d.matches(dir));
  if (!detector) {
    return {
      layout: 'none',
      found: [],
      problems: [`${dir}: not a model folder of a known layout (${KNOWN_LAYOUTS.join(', ')}): no model_index.json naming a known pipeline, and no graph where one is expected`],
      notes: [],
      descriptor: null,
    };
  }
  return detector.describe(dir, embedded);
}

/** The descriptor of a model folder, or an error listing every problem found. */
export function describeModelFolder(dir: string, embedded = false): ModelDescriptor {
  const report = inspectModelFolder(dir, embedded);
  if (!report.descriptor) {
    throw new EngineError('model_error', `${dir}: cannot be used as a ${report.layout} model: ${report.problems.join('; ')}`);
  }
  return report.descriptor;
}
