/**
 * The watermark's shipped files (models/tiny/watermark, written by the zoo; contract in
 * docs/zoo-contract.md, watermark section): the manifest `watermark.json`, the bit extractor, the key-to-LoRA
 * generator, the key trainer and the demo key. Read with schemas, so a damaged or missing file is named and
 * explained. `ATELIER_WATERMARK_DIR` points elsewhere (a smoke build, tests).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { EngineError, messageOf } from '../../errors.js';
import { packageRoot, unpackedPath } from '../../paths.js';

export const WATERMARK_FORMAT = 'atelier-watermark/1';

/**
 * key_trainer.onnx: one fine-tuning step of a key's LoRA (loss and its gradient with respect to
 * per-layer row gains of key_to_lora.onnx's factors and to its A factors) and the recipe the app runs it with
 * (key-trainer.ts; the zoo's models/zoo/zoo/wm_trainer.py).
 */
export const KeyTrainerManifest = z.object({
  file: z.string().min(1),
  batch: z.number().int().positive(),
  scenes: z.number().int().positive(),
  views: z.array(z.string()).min(1),
  gains_shape: z.tuple([z.number().int().positive(), z.number().int().positive()]),
  steps: z.number().int().min(0).max(100_000),
  lr: z.number().positive(),
  /** What the graph has gradients for: the gains, and (when listed) every LoRA A factor. */
  trains: z.array(z.enum(['gains', 'lora_A'])).min(1).default(['gains']),
  /** The A factors' learning rate (when they train), relative to each row's starting RMS. */
  factor_lr: z.number().positive().optional(),
  psnr_target_db: z.number().positive(),
  min_w_img: z.number().nonnegative(),
});
export type KeyTrainerManifest = z.infer<typeof KeyTrainerManifest>;
/** The manifest's key trainer with its file's path. */
export type KeyTrainerAsset = KeyTrainerManifest & { path: string };

export const WatermarkManifest = z.object({
  format: z.literal(WATERMARK_FORMAT),
  bits: z.number().int().min(8).max(256),
  image_size: z.tuple([z.number().int().positive(), z.number().int().positive()]),
  input_range: z.tuple([z.literal(-1), z.literal(1)]),
  extractor: z.string().min(1),
  key_to_lora: z.string().min(1),
  rank: z.number().int().positive(),
  alpha: z.number().positive(),
  targets: z.array(z.string()).min(1),
  trained: z.record(z.string(), z.unknown()).optional(),
  psnr_target_db: z.number().optional(),
  key_trainer: KeyTrainerManifest.optional(),
  notes: z.string().optional(),
  /** Written by the zoo's smoke build (a few training steps): mechanics only. */
  smoke: z.boolean().optional(),
});
export type WatermarkManifest = z.infer<typeof WatermarkManifest>;

/** A key file: `<id>.key.json` (the demo key's and the user's keys alike). */
export const KeyFile = z.object({
  id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, 'an id of lowercase letters, digits and dashes'),
  name: z.string().min(1).max(200),
  bits: z.string().regex(/^[0-9a-f]+$/, 'hex digits'),
  created: z.string(),
  lora: z.string().min(1),
  /** How the app trained the key's LoRA (key-trainer.ts); absent for generated-only and imported keys. */
  training: z
    .object({ steps: z.number().int().nonnegative(), bit_accuracy: z.number().min(0).max(1), psnr_db: z.number(), seconds: z.number().nonnegative() })
    .optional(),
});
export type KeyFile = z.infer<typeof KeyFile>;

export function defaultWatermarkDir(): string {
  const override = process.env.ATELIER_WATERMARK_DIR;
  if (override) return path.resolve(override);
  return unpackedPath(path.join(packageRoot(), 'models', 'tiny', 'watermark'));
}

export function readJsonFile<T extends z.ZodTypeAny>(file: string, schema: T, what: string): z.infer<T> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new EngineError(missing ? 'not_found' : 'bad_input', `${file}: ${missing ? `${what} not found` : `cannot read the ${what} (${messageOf(error)})`}`);
  }
  return parseJsonText(text, schema, what, file);
}

/** JSON text (a file's contents, or bytes the app received) checked against `schema`; `name` names it in errors. */
export function parseJsonText<T extends z.ZodTypeAny>(text: string, schema: T, what: string, name: string): z.infer<T> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new EngineError('bad_input', `${name}: cannot read the ${what} (${messageOf(error)})`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new EngineError('bad_input', `${name}: not a valid ${what}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return parsed.data;
}

export interface WatermarkAssets {
  dir: string;
  manifest: WatermarkManifest;
  extractorFile: string;
  keyToLoraFile: string;
  /** key_trainer.onnx and its recipe, when the folder has one (keys made in the app are then trained). */
  keyTrainer: KeyTrainerAsset | null;
  /** The zoo's demo key (read-only), when the folder has one. */
  demoKey: (KeyFile & { loraFile: string }) | null;
}

/** A file named by the manifest, which must stay inside the folder. */
function inside(dir: string, name: string, what: string): string {
  const file = path.resolve(dir, name);
  if (path.relative(dir, file).startsWith('..') || path.isAbsolute(path.relative(dir, file))) {
    throw new EngineError('bad_input', `${path.join(dir, 'watermark.json')}: the ${what} "${name}" points outside the folder`);
  }
  return file;
}

export function readWatermarkAssets(dir = defaultWatermarkDir()): WatermarkAssets {
  const manifestFile = path.join(dir, 'watermark.json');
  if (!existsSync(manifestFile)) {
    throw new EngineError('not_found', `${dir}: no watermark files here (watermark.json is missing; build them with: cd models/zoo && /usr/bin/python3 -m zoo.watermark)`);
  }
  const manifest = readJsonFile(manifestFile, WatermarkManifest, 'watermark manifest');
  if (manifest.bits % 4 !== 0) throw new EngineError('bad_input', `${manifestFile}: bits must be a multiple of 4 (keys are written in hex), got ${manifest.bits}`);
  const demoFile = path.join(dir, 'demo.key.json');
  let demoKey: WatermarkAssets['demoKey'] = null;
  if (existsSync(demoFile)) {
    const key = readJsonFile(demoFile, KeyFile, 'key file');
    if (key.bits.length * 4 !== manifest.bits) throw new EngineError('bad_input', `${demoFile}: ${key.bits.length * 4} bits, the extractor reads ${manifest.bits}`);
    demoKey = { ...key, loraFile: inside(dir, key.lora, 'demo LoRA') };
  }
  return {
    dir,
    manifest,
    extractorFile: inside(dir, manifest.extractor, 'extractor'),
    keyToLoraFile: inside(dir, manifest.key_to_lora, 'key-to-LoRA generator'),
    keyTrainer: manifest.key_trainer ? { ...manifest.key_trainer, path: inside(dir, manifest.key_trainer.file, 'key trainer') } : null,
    demoKey,
  };
}
