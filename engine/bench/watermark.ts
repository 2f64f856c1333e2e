/**
 * `bench watermark`: the time to verify one image file, end to end as the Verify button does it
 * (hardened decode, conversion to RGB, bilinear resize to the extractor's 64x64, extractor, K and
 * the binomial test against every known key), for a 64x64 PNG (a shapes-world render from the eval
 * set) and the same image upscaled to 1024x1024 (Lanczos, PNG). The extractor is opened once
 * before timing (as in the engine, which keeps it open); medians of repeated runs, alternating
 * the two sizes. Also the extractor alone on one 64x64 image (the floor under the file path), and
 * a key's training as the Create button runs it (key-trainer.ts), when the watermark files have a
 * key trainer: the one-time clean decodes, then the median step of 10 (`key_train_ms_per_step`),
 * and what the manifest's recipe therefore takes (`key_train_s_estimated`).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { decodeImage } from '../images/codec.js';
import { defaultWatermarkDir, readWatermarkAssets } from '../methods/watermark/assets.js';
import { bitsFromHex } from '../methods/watermark/bits.js';
import { trainKeyLora } from '../methods/watermark/key-trainer.js';
import { generateLora } from '../methods/watermark/lora-generator.js';
import { Watermarking } from '../methods/watermark/service.js';
import { packageRoot } from '../paths.js';
import { median, type Figures } from './report.js';

const ROUNDS = 40;

export async function benchWatermark(): Promise<Figures> {
  const source = new Uint8Array(readFileSync(path.join(packageRoot(), 'models', 'tiny', 'eval', 'edit', '0000.png')));
  const big = new Uint8Array(await sharp(source).resize(1024, 1024, { kernel: 'lanczos3' }).png().toBuffer());
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'atelier-bench-wm-'));
  const wm = new Watermarking(dataDir, defaultWatermarkDir());
  try {
    const rgb = await decodeImage(source, { name: '0000.png' });
    await wm.verify([{ name: 'warm.png', bytes: source }]); // opens the extractor
    const small: number[] = [];
    const large: number[] = [];
    const bare: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      let t = performance.now();
      const [a] = await wm.verify([{ name: '64.png', bytes: source }]);
      small.push(performance.now() - t);
      t = performance.now();
      const [b] = await wm.verify([{ name: '1024.png', bytes: big }]);
      large.push(performance.now() - t);
      t = performance.now();
      await wm.extract([rgb]);
      bare.push(performance.now() - t);
      if (a!.status === 'error' || b!.status === 'error') throw new Error(`the bench images could not be checked: ${a!.summary}; ${b!.summary}`);
    }
    return {
      suite: 'watermark',
      verify_ms_64: median(small),
      verify_ms_1024: median(large),
      extractor_ms_64: median(bare),
      input_bytes_1024: big.length,
      rounds: ROUNDS,
      ...(await benchKeyTraining()),
    };
  } finally {
    await wm.release();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const TRAIN_STEPS = 10;

async function benchKeyTraining(): Promise<Figures> {
  const assets = readWatermarkAssets(defaultWatermarkDir());
  if (!assets.keyTrainer) return { key_train: 'no key trainer in the watermark files' };
  const bits = bitsFromHex('3c91e07a55d2');
  const factors = await generateLora(assets, bits);
  const started = performance.now();
  const marks: number[] = [];
  await trainKeyLora(assets, bits, factors, { steps: TRAIN_STEPS, onProgress: () => marks.push(performance.now()) });
  const steps = marks.slice(1).map((t, i) => t - marks[i]!);
  const prepareMs = marks[0]! - started - median(steps);
  return {
    key_train_prepare_ms: prepareMs,
    key_train_ms_per_step: median(steps),
    key_train_steps: assets.keyTrainer.steps,
    key_train_s_estimated: (prepareMs + median(steps) * assets.keyTrainer.steps) / 1000,
  };
}
