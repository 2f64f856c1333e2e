/**
 * Trains a key made in the app. key_to_lora.onnx gives a key's LoRA in one pass, but a map linear
 * in the bits reads back at only about 0.78; fine-tuning that key's own LoRA on the bit loss reads
 * back at about 0.98. ONNX Runtime cannot train, so the zoo exports one training step as a graph
 * (key_trainer.onnx, models/zoo/zoo/wm_trainer.py): for a batch of the scenes it embeds, the loss and
 * its exact gradient with respect to per-layer row gains of the generator's factors; the LoRA of
 * target l is (diag(gains[l]) A_l, B_l). Here Adam runs on those gains (L x r numbers, starting at 1,
 * the generator's LoRA; the learning rate on a cosine to a tenth), with the image loss weighted by the zoo's rule toward the manifest's PSNR
 * target: the weight grows while the batch PSNR is under the target, shrinks above it, by at most 5%
 * a step, never under its floor. The kept gains are those with the best running bit accuracy among
 * steps whose running PSNR stays within 1.5 dB of the target (the last ones if none did).
 */
import { statSync } from 'node:fs';
import { EngineError, throwIfCancelled } from '../../errors.js';
import type { TensorToWrite } from '../../adapters/safetensors.js';
import { seededRandom } from '../../noise/seeded-random.js';
import { Adam } from '../../optim/adam.js';
import { ort, type OrtFeeds } from '../../runtime/ort.js';
import { openSession, type ModelSession } from '../../runtime/session.js';
import { float32Of, outputOf } from '../../runtime/tensors.js';
import type { KeyTrainerAsset, KeyTrainerManifest, WatermarkAssets } from './assets.js';
import type { Bits } from './bits.js';

export interface KeyTrainingProgress {
  step: number;
  total: number;
  /** Running bit accuracy over the trainer's attack views (0-1). */
  bitAccuracy: number;
  /** Running PSNR of the watermarked scenes against the clean ones. */
  psnrDb: number;
}

export interface KeyTrainingOptions {
  /** Steps to run (default: the manifest's); 0 keeps the generator's LoRA. */
  steps?: number;
  signal?: AbortSignal;
  onProgress?: (progress: KeyTrainingProgress) => void;
}

export interface KeyTrainingResult {
  tensors: TensorToWrite[];
  steps: number;
  /** Running figures at the kept step (null when no step ran). */
  bitAccuracy: number | null;
  psnrDb: number | null;
  seconds: number;
}

const IMAGE = 3 * 64 * 64;
/** Clean decodes of the embedded scenes per trainer file (path, size and time), kept for the process. */
const cleanDecodes = new Map<string, Float32Array[]>();
const RUNNING = 0.9; // running averages: about the last ten steps
const PSNR_MARGIN_DB = 1.5; // a kept step's running PSNR is at least the target minus this

/** Fine-tunes `factors` (key_to_lora.onnx's output for `bits`) with key_trainer.onnx. */
export async function trainKeyLora(assets: WatermarkAssets, bits: Bits, factors: TensorToWrite[], options: KeyTrainingOptions = {}): Promise<KeyTrainingResult> {
  const trainer = assets.keyTrainer;
  const steps = options.steps ?? trainer?.steps ?? 0;
  if (!Number.isInteger(steps) || steps < 0) throw new EngineError('invalid_params', `training steps must be a whole number >= 0, got ${steps}`);
  if (steps === 0) return { tensors: factors, steps: 0, bitAccuracy: null, psnrDb: null, seconds: 0 };
  if (!trainer) throw new EngineError('not_found', `${assets.dir}: these watermark files have no key trainer (key_trainer.onnx); create the key with 0 training steps`);
  const started = performance.now();
  const layout = gainLayout(assets, trainer, factors);
  const session = await openSession(trainer.path, { provider: 'cpu' });
  try {
    checkInputs(session, trainer, factors);
    const run = new TrainerRun(session, trainer, bits, factors);
    await run.prepareClean(options.signal);
    const gains = new Float32Array(layout.rows * layout.rank).fill(1);
    const adam = new Adam(gains.length, { lr: trainer.lr });
    const order = batchOrder(trainer, bits);
    let wImg = trainer.min_w_img;
    let acc = -1;
    let psnr = -1;
    let best: { gains: Float32Array; acc: number; psnr: number } | null = null;
    for (let step = 0; step < steps; step++) {
      if (options.signal) throwIfCancelled(options.signal);
      const out = await run.step(gains, order(step), wImg);
      adam.step(gains, out.grad, cosineLr(trainer.lr, step, steps));
      acc = acc < 0 ? out.accuracy : RUNNING * acc + (1 - RUNNING) * out.accuracy;
      psnr = psnr < 0 ? out.psnrDb : RUNNING * psnr + (1 - RUNNING) * out.psnrDb;
      wImg = nextImageWeight(wImg, trainer, out.psnrDb);
      if (step >= Math.floor(steps / 5) && psnr >= trainer.psnr_target_db - PSNR_MARGIN_DB && (!best || acc > best.acc)) {
        best = { gains: gains.slice(), acc, psnr };
      }
      options.onProgress?.({ step: step + 1, total: steps, bitAccuracy: acc, psnrDb: psnr });
    }
    const kept = best ?? { gains, acc, psnr };
    return { tensors: applyGains(factors, layout, kept.gains), steps, bitAccuracy: kept.acc, psnrDb: kept.psnr, seconds: (performance.now() - started) / 1000 };
  } finally {
    await session.release();
  }
}

/** The learning rate on a cosine from `lr` at the first step to a tenth of it at the last. */
export function cosineLr(lr: number, step: number, steps: number): number {
  return lr * (0.1 + 0.45 * (1 + Math.cos((Math.PI * step) / Math.max(1, steps - 1))));
}

/** The zoo's image-weight rule (zoo.watermark next_w_img), floored at the manifest's minimum. */
export function nextImageWeight(weight: number, trainer: Pick<KeyTrainerManifest, 'psnr_target_db' | 'min_w_img'>, psnrDb: number): number {
  const gap = Math.max(-1, Math.min(1, trainer.psnr_target_db - psnrDb));
  return Math.max(trainer.min_w_img, Math.min(1e4, Math.max(0.01, weight * Math.exp(0.05 * gap))));
}

interface GainLayout {
  rows: number;
  rank: number;
  /** Row of the gains per factor name (`vae.<module>.lora_A.weight`). */
  rowOf: Map<string, number>;
}

/** Row l of the gains belongs to the manifest's l-th target; each target's A must have `rank` rows. */
function gainLayout(assets: WatermarkAssets, trainer: KeyTrainerAsset, factors: TensorToWrite[]): GainLayout {
  const [rows, rank] = trainer.gains_shape;
  const { targets } = assets.manifest;
  const bad = (what: string) => new EngineError('model_error', `${trainer.path}: ${what}`);
  if (targets.length !== rows) throw bad(`gains for ${rows} layers, the manifest names ${targets.length} targets`);
  const byName = new Map(factors.map((f) => [f.name, f]));
  const rowOf = new Map<string, number>();
  targets.forEach((target, l) => {
    const a = byName.get(`${target}.lora_A.weight`);
    if (!a || !byName.has(`${target}.lora_B.weight`)) throw bad(`the generator gave no factors for ${target}`);
    if (a.shape[0] !== rank) throw bad(`${target}: rank ${a.shape[0]}, the gains have ${rank} columns`);
    rowOf.set(a.name, l);
  });
  return { rows, rank, rowOf };
}

function checkInputs(session: ModelSession, trainer: KeyTrainerAsset, factors: TensorToWrite[]): void {
  for (const name of ['gains', 'indices', 'key_bits', 'clean', 'w_img', ...factors.map((f) => f.name)]) session.input(name);
  for (const name of ['loss', 'grad_gains', 'bit_logits', 'image']) {
    if (!session.outputs.some((o) => o.name === name)) throw new EngineError('model_error', `${trainer.path}: the graph has no output "${name}"`);
  }
}

/** Scenes per step: passes over the embedded scenes, each in a fresh order seeded by the key. */
function batchOrder(trainer: KeyTrainerManifest, bits: Bits): (step: number) => number[] {
  let seed = 0;
  for (const b of bits) seed = (seed * 2 + b) % 2_147_483_647;
  const random = seededRandom(seed);
  const perStep = trainer.batch;
  let pass: number[] = [];
  const batches: number[][] = [];
  return (step) => {
    while (batches.length <= step) {
      const batch: number[] = [];
      while (batch.length < perStep) {
        if (pass.length === 0) pass = shuffled(trainer.scenes, random);
        batch.push(pass.pop()!);
      }
      batches.push(batch);
    }
    return batches[step]!;
  };
}

function shuffled(n: number, random: () => number): number[] {
  const out = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** The graph with the key's fixed feeds, and each scene's clean decode. */
class TrainerRun {
  private readonly fixed: OrtFeeds;
  private readonly clean: Float32Array[];
  private readonly bits: Bits;

  constructor(
    private readonly session: ModelSession,
    private readonly trainer: KeyTrainerAsset,
    bits: Bits,
    factors: TensorToWrite[],
  ) {
    this.bits = bits;
    this.fixed = { key_bits: new ort.Tensor('float32', Float32Array.from(bits), [bits.length]) };
    for (const f of factors) {
      if (!(f.data instanceof Float32Array)) throw new EngineError('internal', `${f.name}: the key trainer takes float32 factors`);
      this.fixed[f.name] = new ort.Tensor('float32', f.data, f.shape);
    }
    this.clean = new Array<Float32Array>(trainer.scenes);
  }

  /** Decodes every scene without a watermark (the graph's image output at gains 0), once per trainer file. */
  async prepareClean(signal?: AbortSignal): Promise<void> {
    const { batch, scenes } = this.trainer;
    const stat = statSync(this.trainer.path);
    const cacheKey = `${this.trainer.path}:${stat.size}:${stat.mtimeMs}`;
    const cached = cleanDecodes.get(cacheKey);
    if (cached?.length === scenes) {
      cached.forEach((image, i) => (this.clean[i] = image));
      return;
    }
    const zeros = new Float32Array(this.trainer.gains_shape[0] * this.trainer.gains_shape[1]);
    for (let first = 0; first < scenes; first += batch) {
      if (signal) throwIfCancelled(signal);
      const indices = Array.from({ length: batch }, (_, i) => (first + i) % scenes);
      const out = await this.run(zeros, indices, new Float32Array(batch * IMAGE), 0);
      const image = float32Of(outputOf(out, 'image', this.trainer.path), 'image');
      indices.forEach((scene, i) => (this.clean[scene] ??= image.slice(i * IMAGE, (i + 1) * IMAGE)));
    }
    cleanDecodes.set(cacheKey, this.clean.slice());
  }

  async step(gains: Float32Array, indices: number[], wImg: number): Promise<{ grad: Float32Array; accuracy: number; psnrDb: number }> {
    const clean = new Float32Array(indices.length * IMAGE);
    indices.forEach((scene, i) => clean.set(this.clean[scene]!, i * IMAGE));
    const out = await this.run(gains, indices, clean, wImg);
    const grad = float32Of(outputOf(out, 'grad_gains', this.trainer.path), 'grad_gains');
    if (grad.length !== gains.length) throw new EngineError('model_error', `${this.trainer.path}: grad_gains has ${grad.length} values for ${gains.length} gains`);
    if (!grad.every(Number.isFinite)) throw new EngineError('model_error', `${this.trainer.path}: the gradient is not finite`);
    const logits = float32Of(outputOf(out, 'bit_logits', this.trainer.path), 'bit_logits');
    const image = float32Of(outputOf(out, 'image', this.trainer.path), 'image');
    return { grad, accuracy: bitAccuracy(logits, this.bits), psnrDb: psnrDb(image, clean) };
  }

  private run(gains: Float32Array, indices: number[], clean: Float32Array, wImg: number) {
    return this.session.run({
      ...this.fixed,
      gains: new ort.Tensor('float32', gains, this.trainer.gains_shape),
      indices: new ort.Tensor('int64', BigInt64Array.from(indices, BigInt), [indices.length]),
      clean: new ort.Tensor('float32', clean, [indices.length, 3, 64, 64]),
      w_img: new ort.Tensor('float32', Float32Array.of(wImg), []),
    });
  }
}

function bitAccuracy(logits: Float32Array, bits: Bits): number {
  let right = 0;
  for (let i = 0; i < logits.length; i++) if ((logits[i]! > 0 ? 1 : 0) === bits[i % bits.length]) right++;
  return right / logits.length;
}

/** PSNR of two images in [-1, 1] as the uint8 files the app writes would hold them. */
function psnrDb(a: Float32Array, b: Float32Array): number {
  const u8 = (x: number) => Math.round((Math.min(1, Math.max(-1, x)) + 1) * 127.5);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (u8(a[i]!) - u8(b[i]!)) ** 2;
  return 10 * Math.log10((255 * 255) / Math.max(sum / a.length, 1e-12));
}

/** The key's LoRA: each target's A with its rows scaled by that layer's gains. */
function applyGains(factors: TensorToWrite[], layout: GainLayout, gains: Float32Array): TensorToWrite[] {
  return factors.map((f) => {
    const row = layout.rowOf.get(f.name);
    if (row === undefined) return f;
    const data = (f.data as Float32Array).slice();
    const per = data.length / layout.rank;
    for (let k = 0; k < layout.rank; k++) {
      const g = gains[row * layout.rank + k]!;
      for (let j = k * per; j < (k + 1) * per; j++) data[j]! *= g;
    }
    return { ...f, data };
  });
}
