/**
 * `eval watermark`: the LoRA watermark on the embedded tiny model, measured through the engine.
 *
 * Positives: the t2i eval set's prompts and seeds generated twice through the real job path, once
 * clean and once with a key baked into the VAE decoder (same seeds). Keys: four fresh keys made as
 * the app makes them (key_to_lora.onnx, then trained by key_trainer.onnx with the watermark files'
 * recipe; image i carries key i mod 4), four made by key_to_lora.onnx alone (`untrained_*`
 * figures, what training adds), and the demo key's zoo-trained LoRA (`demo_*` figures). Each watermarked PNG is read clean and after
 * each attack (eval/watermark-attacks.ts) through the verifier's decode-and-resize path: bit
 * accuracy, and the true-positive rate of the single-key test at 1e-6 (K >= 41 of 48). PSNR is the
 * watermarked against the clean output of the same seed (uint8 RGB).
 *
 * Negatives (unwatermarked): random latents (Philox, N(0, 1) in the model's normalized latent
 * space) decoded by the clean VAE decoder (eval/watermark-negatives.ts, cached per decoder), the eval set's rendered shapes-world sources, and the
 * clean generated outputs. Each is compared with every eval key; the empirical false-positive rate
 * at 1e-3 (K >= 36) is the share of comparisons that pass, next to the exact binomial bound and
 * whether the count stays under that bound's 99.9% quantile; every pass at 1e-6 is named, and the
 * spread of K and the bits' bias test the binomial assumption (eval/watermark-fpr.ts), the bias
 * per source of negatives next to what chance alone reads on as many images. Because that
 * quantile treats comparisons that share a key as independent, the negatives are also read
 * against 1,000 random keys (bits only): the mean of the
 * per-key rates at 1e-3 is what the verdict's guarantee promises (it rests on the key's
 * randomness), and their 99th percentile and maximum, next to what independent bits would give
 * over as many keys, show how far one unlucky key strays from it.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Figures } from '../bench/report.js';
import { Engine } from '../engine.js';
import { decodeImage } from '../images/codec.js';
import type { RgbImage } from '../images/rgb.js';
import { binomialTail, thresholdK } from '../methods/watermark/binomial.js';
import { bitsFromHex, matchingBits, type Bits } from '../methods/watermark/bits.js';
import { Watermarking } from '../methods/watermark/service.js';
import { readWatermarkAssets, defaultWatermarkDir } from '../methods/watermark/assets.js';
import { embeddedModelDir, packageRoot } from '../paths.js';
import type { WatermarkKeyInfo } from '../protocol/index.js';
import { seededRandom } from '../noise/seeded-random.js';
import { ATTACKS, attack, type Attack } from './watermark-attacks.js';
import { readT2iSet } from './scenes.js';
import { binomialQuantile, bitBiasMax, chanceBitBiasMax, countFalsePositives, falsePositiveFigures, randomKeyRates, type NamedBits } from './watermark-fpr.js';
import { NEGATIVE_LATENT_SEED, decodedRandomLatents } from './watermark-negatives.js';

export interface WatermarkEvalOptions {
  modelDir?: string;
  /** Generated image pairs (default 100, at most the t2i set). */
  limit?: number;
  /** Unwatermarked images in all (default 10,000; at least the renders and clean outputs). */
  negatives?: number;
  progress?: (line: string) => void;
}

const KEYS = 4;
/** Random keys (bits only) the negatives' per-key false-positive rates are measured over. */
const RANDOM_KEYS = 1000;
const BITS = 48;

interface Positive {
  key: Bits;
  png: Uint8Array;
}

function psnr(a: RgbImage, b: RgbImage): number {
  let se = 0;
  for (let i = 0; i < a.data.length; i++) se += (a.data[i]! - b.data[i]!) ** 2;
  const mse = se / a.data.length;
  return mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse);
}

const mean = (xs: number[]) => (xs.length === 0 ? NaN : xs.reduce((s, x) => s + x, 0) / xs.length);

/** ", read-out retrained N steps" when the zoo's phase 1b ran (watermark.json trained.readout). */
function readoutSteps(trained: Record<string, unknown>): string {
  const readout = trained.readout as { extractor_steps?: unknown } | null | undefined;
  return typeof readout?.extractor_steps === 'number' ? `, read-out retrained ${readout.extractor_steps} steps` : '';
}

export async function evalWatermark(options: WatermarkEvalOptions = {}): Promise<Figures> {
  const started = performance.now();
  const progress = options.progress ?? (() => undefined);
  const modelDir = options.modelDir ?? embeddedModelDir();
  const wmDir = defaultWatermarkDir();
  const assets = readWatermarkAssets(wmDir);
  if (assets.manifest.bits !== BITS) throw new Error(`${wmDir}: a ${assets.manifest.bits}-bit watermark; this evaluation is written for 48 bits`);
  const evalDir = path.join(packageRoot(), 'models', 'tiny', 'eval');
  const items = readT2iSet(path.join(evalDir, 't2i.json')).items.slice(0, options.limit ?? 100);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'atelier-eval-wm-'));
  const engine = new Engine({ dataDir, modelRoots: [{ dir: modelDir, embedded: true, explicit: true }], previewEvery: 0, watermarkDir: wmDir });
  const wm = new Watermarking(dataDir, wmDir);
  const k6 = thresholdK(BITS, 1e-6);
  const k3 = thresholdK(BITS, 1e-3);
  try {
    const model = engine.listModels()[0];
    if (!model) throw new Error(`${modelDir}: no usable model there`);
    await engine.loadModel(model.id, 'cpu');
    const generate = async (i: number) => {
      const item = items[i]!;
      const done = await engine.runJob({ kind: 'generate', prompt: item.prompt, seed: item.seed });
      return { png: done.image.bytes, rgb: await decodeImage(done.image.bytes, { name: item.id }), key: done.metadata.watermarkKey ?? null };
    };

    // clean outputs
    const clean: Array<{ png: Uint8Array; rgb: RgbImage }> = [];
    for (let i = 0; i < items.length; i++) {
      const out = await generate(i);
      if (out.key !== null) throw new Error('the clean pass came out watermarked');
      clean.push(out);
    }
    progress(`${clean.length} clean outputs (${((performance.now() - started) / 1000).toFixed(0)} s)`);

    // the same seeds with keys made in the app (trained), keys only generated, the demo key
    const keys: WatermarkKeyInfo[] = [];
    const trainingSeconds: number[] = [];
    for (let k = 0; k < KEYS; k++) {
      const t = performance.now();
      keys.push(await engine.createWatermarkKey(`eval key ${k + 1}`));
      trainingSeconds.push((performance.now() - t) / 1000);
      progress(`key ${k + 1} of ${KEYS} made in ${trainingSeconds[k]!.toFixed(0)} s (${keys[k]!.training ? `trained ${keys[k]!.training!.steps} steps` : 'not trained: no key trainer'})`);
    }
    const untrainedKeys: WatermarkKeyInfo[] = [];
    for (let k = 0; k < KEYS; k++) untrainedKeys.push(await engine.createWatermarkKey(`eval untrained key ${k + 1}`, 0));
    const marked = async (keyFor: (i: number) => { id: string; bits: string }) => {
      const positives: Positive[] = [];
      const psnrs: number[] = [];
      let current: string | null = null;
      const order = items.map((_, i) => i).sort((a, b) => keyFor(a).id.localeCompare(keyFor(b).id) || a - b);
      const byIndex = new Map<number, Positive>();
      for (const i of order) {
        const key = keyFor(i);
        if (key.id !== current) {
          await engine.setWatermark(true, key.id, { persist: false });
          current = key.id;
        }
        const out = await generate(i);
        if (out.key !== key.id) throw new Error(`output ${i} is labelled ${out.key}, expected ${key.id}`);
        byIndex.set(i, { key: bitsFromHex(key.bits), png: out.png });
        psnrs[i] = psnr(out.rgb, clean[i]!.rgb);
      }
      for (let i = 0; i < items.length; i++) positives.push(byIndex.get(i)!);
      await engine.setWatermark(false, undefined, { persist: false });
      return { positives, psnrs };
    };
    const generated = await marked((i) => keys[i % KEYS]!);
    progress(`${items.length} outputs with keys made in the app (${((performance.now() - started) / 1000).toFixed(0)} s)`);
    const untrained = await marked((i) => untrainedKeys[i % KEYS]!);
    progress(`${items.length} outputs with generated, untrained keys (${((performance.now() - started) / 1000).toFixed(0)} s)`);
    const demoKey = assets.demoKey;
    const demo = demoKey ? await marked(() => demoKey) : null;
    if (demo) progress(`${items.length} outputs with the demo key (${((performance.now() - started) / 1000).toFixed(0)} s)`);

    const score = async (set: { positives: Positive[]; psnrs: number[] }, prefix: string): Promise<Figures> => {
      const figures: Figures = {};
      for (const kind of ['clean', ...ATTACKS] as const) {
        const random = seededRandom(1234);
        const files = await Promise.all(
          set.positives.map(async (p, i) => ({ name: `${prefix}${kind}-${i}`, bytes: kind === 'clean' ? p.png : await attack(p.png, kind as Attack, random) })),
        );
        const bits = await wm.readBits(files);
        const ks = bits.map((b, i) => matchingBits(b, set.positives[i]!.key));
        figures[`${prefix}bit_acc_${kind}`] = mean(ks) / BITS;
        figures[`${prefix}tpr_at_1e-6_${kind}`] = ks.filter((k) => k >= k6).length / ks.length;
      }
      figures[`${prefix}psnr_db`] = mean(set.psnrs);
      figures[`${prefix}psnr_db_min`] = Math.min(...set.psnrs);
      return figures;
    };
    const positives = await score(generated, '');
    const untrainedFigures = await score(untrained, 'untrained_');
    const demoFigures = demo ? await score(demo, 'demo_') : {};
    progress('positives scored');

    // negatives: clean outputs, rendered eval sources, decoded random latents, each named so a
    // pass can be traced (eval/watermark-fpr.ts)
    const named = (label: string, key: { bits: string }): NamedBits => ({ name: `${label} (${key.bits})`, bits: bitsFromHex(key.bits) });
    const evalKeys: NamedBits[] = [
      ...keys.map((k, i) => named(`trained key ${i + 1}`, k)),
      ...untrainedKeys.map((k, i) => named(`untrained key ${i + 1}`, k)),
      ...(demoKey ? [named('demo key', demoKey)] : []),
    ];
    const negatives: NamedBits[] = (await wm.readBits(clean.map((c, i) => ({ name: `clean-${i}`, bytes: c.png })))).map((bits, i) => ({
      name: `clean output of t2i item ${items[i]!.id} (seed ${items[i]!.seed})`,
      bits,
    }));
    const renders = readdirSync(path.join(evalDir, 'edit')).filter((n) => n.endsWith('.png')).sort();
    for (let i = 0; i < renders.length; i += 64) {
      const names = renders.slice(i, i + 64);
      const bits = await wm.readBits(names.map((n) => ({ name: n, bytes: new Uint8Array(readFileSync(path.join(evalDir, 'edit', n))) })));
      negatives.push(...bits.map((b, j) => ({ name: `render edit/${names[j]}`, bits: b })));
    }
    const nClean = clean.length;
    const nRenders = renders.length;
    const nLatents = Math.max(0, (options.negatives ?? 10_000) - nClean - nRenders);
    for await (const images of decodedRandomLatents(modelDir, nLatents, progress)) {
      for (const bits of await wm.extract(images)) {
        const i = negatives.length - nClean - nRenders;
        negatives.push({ name: `decoded random latent ${i} (seed ${NEGATIVE_LATENT_SEED + i})`, bits });
      }
    }
    const counts = countFalsePositives(negatives, evalKeys, k3, k6);
    const bound = binomialTail(BITS, k3);
    const randomKeys = randomKeyRates(negatives, RANDOM_KEYS, k3, seededRandom(4321));
    // each source's bit bias next to what chance reads on as many images (none without images)
    const sources = { clean_outputs: negatives.slice(0, nClean), renders: negatives.slice(nClean, nClean + nRenders), decoded_latents: negatives.slice(nClean + nRenders) };
    const biasFigures: Figures = {};
    for (const [source, slice] of Object.entries(sources)) {
      biasFigures[`negatives_bit_bias_max_${source}`] = slice.length > 0 ? bitBiasMax(slice) : null;
      biasFigures[`negatives_bit_bias_max_${source}_by_chance`] = slice.length > 0 ? chanceBitBiasMax(slice.length, BITS) : null;
    }
    const perKeyQuantile = (q: number) => binomialQuantile(negatives.length, bound, q) / negatives.length;
    const trained = assets.manifest.trained ?? {};
    return {
      suite: 'watermark',
      model: model.name,
      watermark: `${path.basename(wmDir)} (${typeof trained.steps === 'number' ? `${trained.steps} training steps` : 'untrained?'}${readoutSteps(trained)}${assets.manifest.smoke ? ', smoke build' : ''})`,
      n_images: items.length,
      keys_generated: KEYS,
      keys_trained: keys.filter((k) => k.training).length,
      key_training_steps: keys[0]?.training?.steps ?? 0,
      key_training_seconds_mean: mean(trainingSeconds),
      ...positives,
      ...untrainedFigures,
      ...demoFigures,
      ...falsePositiveFigures(counts, BITS),
      'fpr_bound_at_1e-3': bound,
      'fpr_at_1e-3_within_bound': counts.passesAt1e3 <= binomialQuantile(counts.comparisons, bound, 0.999),
      random_keys: randomKeys.keys,
      'fpr_at_1e-3_random_keys_mean': randomKeys.mean,
      'fpr_at_1e-3_random_keys_p99': randomKeys.p99,
      'fpr_at_1e-3_random_keys_p99_if_independent': perKeyQuantile(0.99),
      'fpr_at_1e-3_random_keys_max': randomKeys.max,
      'fpr_at_1e-3_random_keys_max_if_independent': perKeyQuantile(1 - 1 / RANDOM_KEYS),
      'fpr_at_1e-3_random_keys_worst_key': randomKeys.maxKey,
      ...biasFigures,
      n_negatives: negatives.length,
      negatives: `${nLatents} decoded random latents, ${nRenders} rendered eval sources, ${nClean} clean generated outputs; each against ${evalKeys.length} keys`,
      threshold_k_at_1e_6: k6,
      threshold_k_at_1e_3: k3,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await wm.release();
    await engine.shutdown();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
