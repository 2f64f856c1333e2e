/**
 * Model folder detection: which layout a folder is (by its files, never by its name), whether it
 * is complete and consistent (graph inputs, outputs and dtypes read from the graphs), and the
 * descriptor the engine loads. `atelier models validate DIR` prints the report.
 */
import { existsSync, statSync } from 'node:fs';
import { EngineError } from '../errors.js';
import type { LayoutReport, ModelDescriptor } from './descriptor.js';
import { describeOptimumFlux, isOptimumFlux } from './layouts/optimum-flux.js';

interface Detector {
  layout: string;
  matches(dir: string): boolean;
  describe(dir: string, embedded: boolean): LayoutReport;
}

const DETECTORS: Detector[] = [{ layout: 'optimum-flux', matches: isOptimumFlux, describe: describeOptimumFlux }];

export const KNOWN_LAYOUTS = DETECTORS.map((d) => d.layout);

export function looksLikeModelFolder(dir: string): boolean {
  return DETECTORS.some((d) => d.matches(dir));
}

/** The detection report for a folder; `descriptor` is null when something is wrong. */
export function inspectModelFolder(dir: string, embedded = false): LayoutReport {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    return { layout: 'none', found: [], problems: [`${dir}: model folder not found`], descriptor: null };
  }
  const detector = DETECTORS.find((d) => d.matches(dir));
  if (!detector) {
    return {
      layout: 'none',
      found: [],
      problems: [`${dir}: not a model folder of a known layout (${KNOWN_LAYOUTS.join(', ')}): no model_index.json naming a known pipeline, and no graph where one is expected`],
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
