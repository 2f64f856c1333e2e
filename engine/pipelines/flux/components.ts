/**
 * Where a FLUX model folder keeps each graph and constant. Knows the Optimum FLUX layout used by
 * the zoo (transformer/, text_encoder/ (CLIP), text_encoder_2/ (T5), vae_encoder/, vae_decoder/,
 * tokenizer/, tokenizer_2/, scheduler/) plus the zoo manifest's constants.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { EngineError } from '../../errors.js';
import type { ModelEntry } from '../../models/catalog.js';
import { flowMatchConfigFromJson, type FlowMatchConfig } from '../../schedulers/flow-match-euler.js';
import type { LatentRgbProjection } from './preview.js';

export interface FluxComponents {
  files: { transformer: string; clip: string; t5: string; vaeEncoder: string; vaeDecoder: string };
  tokenizerDirs: { clip: string; t5: string };
  scheduler: FlowMatchConfig;
  channels: number;
  vaeScaleFactor: number;
  vae: { scalingFactor: number; shiftFactor: number };
  clipLength: number;
  t5Length: number;
  preview: LatentRgbProjection | null;
}

function readJsonObject(file: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(readFileSync(file, 'utf8'));
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new EngineError('model_error', `${file}: missing or not a JSON object`);
}

function parseProjection(value: unknown, channels: number): LatentRgbProjection | null {
  if (!value || typeof value !== 'object') return null;
  const { latent_rgb_factors: factors, latent_rgb_bias: bias } = value as Record<string, unknown>;
  const isRow = (r: unknown): r is number[] => Array.isArray(r) && r.length === 3 && r.every((x) => typeof x === 'number');
  if (!Array.isArray(factors) || factors.length !== channels || !factors.every(isRow) || !isRow(bias)) return null;
  return { factors, bias: [bias[0]!, bias[1]!, bias[2]!] };
}

export function fluxComponents(entry: ModelEntry): FluxComponents {
  const dir = entry.dir;
  const m = entry.manifest;
  const files = {
    transformer: path.join(dir, 'transformer', 'model.onnx'),
    clip: path.join(dir, 'text_encoder', 'model.onnx'),
    t5: path.join(dir, 'text_encoder_2', 'model.onnx'),
    vaeEncoder: path.join(dir, 'vae_encoder', 'model.onnx'),
    vaeDecoder: path.join(dir, 'vae_decoder', 'model.onnx'),
  };
  const missing = Object.values(files).filter((f) => !existsSync(f));
  if (missing.length > 0) throw new EngineError('model_error', `${dir}: not a complete FLUX model folder; missing ${missing.map((f) => path.relative(dir, f)).join(', ')}`);
  const schedulerFile = path.join(dir, 'scheduler', 'scheduler_config.json');
  const rawManifest = readJsonObject(path.join(dir, 'atelier.json'));
  return {
    files,
    tokenizerDirs: { clip: path.join(dir, 'tokenizer'), t5: path.join(dir, 'tokenizer_2') },
    scheduler: flowMatchConfigFromJson(readJsonObject(schedulerFile)),
    channels: m.latent_channels,
    vaeScaleFactor: m.vae_scale_factor,
    vae: { scalingFactor: m.vae.scaling_factor, shiftFactor: m.vae.shift_factor },
    clipLength: m.text.clip_max_length,
    t5Length: m.text.t5_max_length,
    preview: parseProjection(rawManifest.preview, m.latent_channels),
  };
}
