/**
 * Trains a key made in the app. key_to_lora.onnx gives a key's LoRA in one pass, but a map linear
 * in the bits reads back at only about 0.78; fine-tuning that key's own LoRA on the bit loss reads
 * back at about 0.98. ONNX Runtime cannot train, so the zoo exports one training step as a graph
 * (key_trainer.onnx, models/zoo/zoo/wm_trainer.py): for a batch of the scenes it embeds, the loss and
 * its exact gradient with respect to per-layer row gains of the generator's factors and to its A
 * factors; the LoRA of target l is (diag(gains[l]) A_l, B_l). Here Adam runs on the gains (L x r
 * numbers, starting at 1) and on every A (starting at the generator's, each row's step relative to
 * that row's starting RMS; B stays), the learning rates on a cosine to a tenth, with the image loss weighted by the zoo's rule toward the manifest's PSNR
 * target: the weight grows while the batch PSNR is under the target, shrinks above it, by at most 5%
 * a step, never under its floor. The kept gains are those with the best running bit accuracy among
 * steps whose running PSNR stays within 1.5 dB of the target (the last ones if none did).
 */
import { fileStamp } from '../../cache/file-stamp.js';
import { LruCache } from '../../cache/lru.js';
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
const cleanDecodes = new LruCache<string, Float32Array[]>(2);
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
  const trained = trainedFactors(trainer, factors, layout);
  const session = await openSession(trainer.path, { provider: 'cpu' });
  try {
    checkGraph(session, trainer, factors, trained);
    const run = new TrainerRun(session, trainer, bits, factors);
    await run.prepareClean(options.signal);
    // the parameters: the gains, and each trained A with its rows divided by their starting RMS, so
    // factor_lr is a step relative to each row's scale (rows the generator scaled down stay small)
    const gains = new Float32Array(layout.rows * layout.rank).fill(1);
    const factorsTrained = trained.map((name) => new RowScaledFactor(name, factors.find((f) => f.name === name)!.data as Float32Array, layout.rank));
    const gainsAdam = new Adam(gains.length, { lr: trainer.lr });
    const factorAdams = factorsTrained.map((f) => new Adam(f.normalized.length, { lr: trainer.factor_lr! }));
    const current = (): Map<string, Float32Array> => new Map([['gains', gains], ...factorsTrained.map((f) => [f.name, f.actual] as const)]);
    const snapshot = () => new Map([...current()].map(([name, v]) => [name, v.slice()]));
    const order = batchOrder(trainer, bits);
    let wImg = trainer.min_w_img;
    let acc = -1;
    let psnr = -1;
    let best: { params: Map<string, Float32Array>; acc: number; psnr: number } | null = null;
    for (let step = 0; step < steps; step++) {
      if (options.signal) throwIfCancelled(options.signal);
      const out = await run.step(current(), order(step), wImg);
      gainsAdam.step(gains, out.grads.get('gains')!, cosineLr(gainsAdam.lr, step, steps));
      factorsTrained.forEach((f, i) => f.step(factorAdams[i]!, out.grads.get(f.name)!, cosineLr(factorAdams[i]!.lr, step, steps)));
      acc = acc < 0 ? out.accuracy : RUNNING * acc + (1 - RUNNING) * out.accuracy;
      psnr = psnr < 0 ? out.psnrDb : RUNNING * psnr + (1 - RUNNING) * out.psnrDb;
      wImg = nextImageWeight(wImg, trainer, out.psnrDb);
      if (step >= Math.floor(steps / 5) && psnr >= trainer.psnr_target_db - PSNR_MARGIN_DB && (!best || acc > best.acc)) {
        best = { params: snapshot(), acc, psnr };
      }
      options.onProgress?.({ step: step + 1, total: steps, bitAccuracy: acc, psnrDb: psnr });
    }
    const kept = best ?? { params: snapshot(), acc, psnr };
    const tuned = factors.map((f) => (kept.params.has(f.name) ? { ...f, data: kept.params.get(f.name)! } : f));
    return { tensors: applyGains(tuned, layout, kept.params.get('gains')!), steps, bitAccuracy: kept.acc, psnrDb: kept.psnr, seconds: (performance.now() - started) / 1000 };
  } finally {
    await session.release();
  }
}

/**
 * A trained A factor: Adam works on `normalized` (each row divided by its starting RMS); `actual`,
 * what the graph is fed, is kept equal to normalized times the row scales, updated in place.
 */
class RowScaledFactor {
  readonly normalized: Float32Array;
  readonly actual: Float32Array;
  private readonly scales: Float32Array;
  private readonly grad: Float32Array;

  constructor(
    readonly name: string,
    start: Float32Array,
    rank: number,
  ) {
    this.scales = rowRms(start, rank);
    this.normalized = multiplyRows(start, this.scales.map((r) => (r > 0 ? 1 / r : 0)));
    this.actual = multiplyRows(this.normalized, this.scales);
    this.grad = new Float32Array(start.length);
  }

  /** One Adam step from the gradient with respect to `actual`. */
  step(adam: Adam, gradActual: Float32Array, lr: number): void {
    adam.step(this.normalized, multiplyRows(gradActual, this.scales, this.grad), lr);
    multiplyRows(this.normalized, this.scales, this.actual);
  }
}

/** The RMS of each of the `rank` rows of a factor stored row-major. */
function rowRms(values: Float32Array, rank: number): Float32Array {
  const per = values.length / rank;
  const out = new Float32Array(rank);
  for (let k = 0; k < rank; k++) {
    let sum = 0;
    for (let j = k * per; j < (k + 1) * per; j++) sum += values[j]! ** 2;
    out[k] = Math.sqrt(sum / per);
  }
  return out;
}

/** `values` (row-major, one row per scale) with row k times scales[k], into `out`. */
function multiplyRows(values: Float32Array, scales: ArrayLike<number>, out: Float32Array = new Float32Array(values.length)): Float32Array {
  const per = values.length / scales.length;
  for (let k = 0; k < scales.length; k++) {
    const scale = scales[k]!;
    for (let j = k * per; j < (k + 1) * per; j++) out[j] = values[j]! * scale;
  }
  return out;
}

/** The A factors the graph trains (none for a trainer that only has gains). */
function trainedFactors(trainer: KeyTrainerAsset, factors: TensorToWrite[], layout: GainLayout): string[] {
  if (!trainer.trains.includes('lora_A')) return [];
  if (trainer.factor_lr === undefined) throw new EngineError('model_error', `${trainer.path}: the manifest trains the A factors but gives no factor_lr`);
  return factors.filter((f) => layout.rowOf.has(f.name)).map((f) => f.name);
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

function checkGraph(session: ModelSession, trainer: KeyTrainerAsset, factors: TensorToWrite[], trained: string[]): void {
  for (const name of ['gains', 'indices', 'key_bits', 'clean', 'w_img', ...factors.map((f) => f.name)]) session.input(name);
  for (const name of ['loss', 'grad_gains', 'bit_logits', 'image', ...trained.map((n) => `grad.${n}`)]) {
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
  private readonly factors: TensorToWrite[];
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
    this.factors = factors;
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
    const cacheKey = fileStamp(this.trainer.path);
    const cached = cleanDecodes.get(cacheKey);
    if (cached?.length === scenes) {
      cached.forEach((image, i) => (this.clean[i] = image));
      return;
    }
    const zeros = new Float32Array(this.trainer.gains_shape[0] * this.trainer.gains_shape[1]);
    for (let first = 0; first < scenes; first += batch) {
      if (signal) throwIfCancelled(signal);
      const indices = Array.from({ length: batch }, (_, i) => (first + i) % scenes);
      const out = await this.run(new Map([['gains', zeros]]), indices, new Float32Array(batch * IMAGE), 0);
      const image = float32Of(outputOf(out, 'image', this.trainer.path), 'image');
      indices.forEach((scene, i) => (this.clean[scene] ??= image.slice(i * IMAGE, (i + 1) * IMAGE)));
    }
    cleanDecodes.set(cacheKey, this.clean.slice());
  }

  /** One step at `params` (the gains, and the A factors being trained, by name): their gradients. */
  async step(params: Map<string, Float32Array>, indices: number[], wImg: number): Promise<{ grads: Map<string, Float32Array>; accuracy: number; psnrDb: number }> {
    const clean = new Float32Array(indices.length * IMAGE);
    indices.forEach((scene, i) => clean.set(this.clean[scene]!, i * IMAGE));
    const out = await this.run(params, indices, clean, wImg);
    const grads = new Map<string, Float32Array>();
    for (const [name, values] of params) {
      const output = name === 'gains' ? 'grad_gains' : `grad.${name}`;
      const grad = float32Of(outputOf(out, output, this.trainer.path), output);
      if (grad.length !== values.length) throw new EngineError('model_error', `${this.trainer.path}: ${output} has ${grad.length} values for ${values.length} parameters`);
      if (!grad.every(Number.isFinite)) throw new EngineError('model_error', `${this.trainer.path}: ${output} is not finite`);
      grads.set(name, grad);
    }
    const logits = float32Of(outputOf(out, 'bit_logits', this.trainer.path), 'bit_logits');
    const image = float32Of(outputOf(out, 'image', this.trainer.path), 'image');
    return { grads, accuracy: bitAccuracy(logits, this.bits), psnrDb: psnrDb(image, clean) };
  }

  private run(params: Map<string, Float32Array>, indices: number[], clean: Float32Array, wImg: number) {
    const trained: OrtFeeds = {};
    for (const f of this.factors) {
      const values = params.get(f.name);
      if (values) trained[f.name] = new ort.Tensor('float32', values, f.shape);
    }
    return this.session.run({
      ...this.fixed,
      ...trained,
      gains: new ort.Tensor('float32', params.get('gains')!, this.trainer.gains_shape),
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
    return { ...f, data: multiplyRows(f.data as Float32Array, gains.subarray(row * layout.rank, (row + 1) * layout.rank)) };
  });
}
