/**
 * What the layout detectors share: reading a folder's config files and graphs while collecting
 * what was found, what is wrong (one sentence each, naming the file) and notes (things that work
 * but the user should know), plus small helpers (ids from names, preview projections, graph
 * signatures by name).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { compatibleKinds, kindFromConfig, type SchedulerJson } from '../../schedulers/registry.js';
import type { LatentRgbProjection } from '../../pipelines/latent-rgb.js';
import type { GraphSignature, ValueSignature } from '../../onnx/signature.js';
import { checkGraph, type GraphExpectation } from '../graph-check.js';
import type { LayoutReport, ModelDescriptor } from '../descriptor.js';
import { readJsonFile, type JsonObject } from './json.js';

/** A folder being inspected: its files are read through this so the report lists them. */
export class FolderInspector {
  readonly found: string[] = [];
  readonly problems: string[] = [];
  readonly notes: string[] = [];

  constructor(readonly dir: string) {}

  path(rel: string): string {
    return path.join(this.dir, rel);
  }

  exists(rel: string): boolean {
    return existsSync(this.path(rel));
  }

  /** A JSON file, or null when absent; invalid JSON is a problem. */
  json(rel: string): JsonObject | null {
    try {
      const json = readJsonFile(this.path(rel));
      if (json) this.found.push(rel);
      return json;
    } catch (error) {
      this.problems.push(error instanceof Error ? error.message.replace(this.dir + path.sep, '') : String(error));
      return null;
    }
  }

  /**
   * A graph checked against what the pipeline feeds it (inputs the engine would not feed are
   * problems too); null (with the problems noted) if unusable.
   */
  graph(rel: string, label: string, expectation: GraphExpectation): GraphSignature | null {
    const check = checkGraph(this.dir, rel, expectation);
    const problems = [...check.problems];
    if (check.signature) {
      const known = new Set([...Object.keys(expectation.inputs), ...Object.keys(expectation.optionalInputs ?? {})]);
      for (const input of check.signature.inputs) {
        if (!known.has(input.name)) problems.push(`${rel}: input "${input.name}" is not one the engine feeds (it feeds: ${[...known].join(', ')})`);
      }
      this.found.push(`${rel} (${label}: ${describeIo(check.signature)})`);
    }
    this.problems.push(...problems);
    return problems.length === 0 ? check.signature : null;
  }

  /** A folder that must exist (tokenizers). */
  requireFolder(rel: string, why: string): void {
    if (this.exists(rel)) this.found.push(`${rel}/`);
    else this.problems.push(`${rel}/: missing (${why})`);
  }

  report(layout: string, descriptor: ModelDescriptor | null): LayoutReport {
    return { layout, found: this.found, problems: this.problems, notes: this.notes, descriptor: this.problems.length === 0 ? descriptor : null };
  }
}

function describeValue(v: ValueSignature): string {
  return `${v.name} ${v.type}${v.shape ? `[${v.shape.map((d) => d ?? '?').join(',')}]` : ''}`;
}

/** "in: a float32[B,77] -> out: b float32[B,16]" for `models validate`. */
export function describeIo(signature: GraphSignature): string {
  return `${signature.inputs.map(describeValue).join(', ')} -> ${signature.outputs.map(describeValue).join(', ')}`;
}

export function inputOf(signature: GraphSignature | null, name: string): ValueSignature | undefined {
  return signature?.inputs.find((i) => i.name === name);
}

export function outputOf(signature: GraphSignature | null, names: string[]): ValueSignature | undefined {
  for (const name of names) {
    const found = signature?.outputs.find((o) => o.name === name);
    if (found) return found;
  }
  return undefined;
}

/** A fixed dimension of a value, or null when it is symbolic or unknown. */
export function fixedDim(value: ValueSignature | undefined, axis: number): number | null {
  const d = value?.shape?.[axis];
  return typeof d === 'number' && d > 0 ? d : null;
}

export function safeJson(file: string): JsonObject | null {
  try {
    return readJsonFile(file);
  } catch {
    return null;
  }
}

export function slug(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 100) || 'model';
}

export function parseProjection(value: unknown, channels: number): LatentRgbProjection | null {
  if (!value || typeof value !== 'object') return null;
  const { latent_rgb_factors: factors, latent_rgb_bias: bias } = value as Record<string, unknown>;
  const isRow = (r: unknown): r is number[] => Array.isArray(r) && r.length === 3 && r.every((x) => typeof x === 'number');
  if (!Array.isArray(factors) || factors.length !== channels || !factors.every(isRow) || !isRow(bias)) return null;
  return { factors, bias: [bias[0]!, bias[1]!, bias[2]!] };
}

/**
 * The sampler menu for a scheduler config: the kinds that fit the model, the config's own class
 * (or its stand-in) first. Problems (no or unknown class) go to the inspector.
 */
export function schedulerChoices(inspector: FolderInspector, rel: string, config: SchedulerJson): { default: string; kinds: string[] } | null {
  try {
    const own = kindFromConfig(config);
    if (own.fallbackFrom) inspector.notes.push(`${rel}: ${own.fallbackFrom} is not implemented; ${own.kind} runs in its place`);
    const kinds = compatibleKinds(config);
    return { default: own.kind, kinds: [own.kind, ...kinds.filter((k) => k !== own.kind)] };
  } catch (error) {
    inspector.problems.push(`${rel}: ${error instanceof Error ? error.message : String(error)}`);
    return null;
  }
}

/**
 * FLUX's published defaults when a folder has no manifest: FLUX.1-dev 28 steps, guidance 3.5;
 * schnell 4 steps, no guidance; Kontext 28 steps, guidance 2.5; 1024 x 1024 (the model cards).
 */
export function fluxDefaults(variant: { schnell: boolean; kontext: boolean }) {
  const { schnell, kontext } = variant;
  return { steps: schnell ? 4 : 28, guidance: schnell ? 0 : kontext ? 2.5 : 3.5, width: 1024, height: 1024, scheduler: 'flow-euler' };
}
