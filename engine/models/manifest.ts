/**
 * `atelier.json`, the manifest of a model folder built by the tiny model zoo (see
 * docs/zoo-contract.md): what the folder is and the constants its pipeline needs that the
 * diffusers-style config files do not all carry in one place.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { EngineError } from '../errors.js';

export const MANIFEST_FILE = 'atelier.json';

export const AtelierManifest = z.object({
  format: z.literal('atelier-model/1'),
  name: z.string().min(1),
  family: z.enum(['flux-kontext', 'flux-dev', 'flux-schnell']),
  layout: z.string(),
  image_size: z.tuple([z.number().int().positive(), z.number().int().positive()]),
  latent_channels: z.number().int().positive(),
  vae_scale_factor: z.number().int().positive(),
  vae: z.object({ scaling_factor: z.number(), shift_factor: z.number() }),
  text: z.object({ clip_max_length: z.number().int().positive(), t5_max_length: z.number().int().positive() }),
  defaults: z.object({ steps: z.number().int().positive(), guidance: z.number() }),
  /** `true_cfg`: defaults.guidance is a classifier-free guidance scale (FluxSpec.trueCfg); absent: embedded. */
  guidance_mode: z.enum(['embedded', 'true_cfg']).optional(),
  eval: z.record(z.string(), z.string()).optional(),
});
export type AtelierManifest = z.infer<typeof AtelierManifest>;

export function readManifest(dir: string): AtelierManifest {
  const file = path.join(dir, MANIFEST_FILE);
  let raw: string;
  try {
    raw = readFileSync(file, 'utf8');
  } catch {
    throw new EngineError('model_error', `${file}: manifest not found`);
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (error) {
    throw new EngineError('model_error', `${file}: not valid JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  const parsed = AtelierManifest.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new EngineError('model_error', `${file}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return parsed.data;
}
