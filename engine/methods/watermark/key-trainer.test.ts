/**
 * The in-app key training on the zoo's real watermark files (models/tiny/watermark:
 * key_to_lora.onnx and key_trainer.onnx): a few steps change the LoRA's A factors and never B (with
 * gains only, A row by row), report every step, and keep the figures in the key file (a rename
 * keeps them); 0 steps keep the
 * generated LoRA; a cancelled training stores nothing; a trainer that does not fit the generator
 * is refused by name. Whether training makes keys read back better is the watermark evaluation's
 * job (npm run eval -- watermark). Skips, saying why, until the zoo has written a key trainer.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CancelledError } from '../../errors.js';
import { packageRoot } from '../../paths.js';
import { tempDir } from '../../testing/models.js';
import { readWatermarkAssets } from './assets.js';
import { bitsFromHex } from './bits.js';
import { trainKeyLora, type KeyTrainingProgress } from './key-trainer.js';
import { KeyStore } from './keys.js';
import { generateLora } from './lora-generator.js';

const wmDir = process.env.ATELIER_ZOO_WATERMARK ? path.resolve(process.env.ATELIER_ZOO_WATERMARK) : path.join(packageRoot(), 'models', 'tiny', 'watermark');
const assets = existsSync(path.join(wmDir, 'watermark.json')) ? readWatermarkAssets(wmDir) : null;

if (!assets?.keyTrainer) {
  describe('in-app key training', () => {
    it.skip(`skipped: no key trainer in ${wmDir} (build it with: cd models/zoo && /usr/bin/python3 -m zoo.watermark export --generator-only)`, () => undefined);
  });
} else {
  const trainer = assets.keyTrainer;
  const bits = bitsFromHex('3c91e07a55d2');

  describe('in-app key training', () => {
    it('trains the A factors and the gains, never B, reports every step and keeps figures that make sense', { timeout: 120_000 }, async () => {
      expect(trainer.trains).toEqual(['gains', 'lora_A']);
      const factors = await generateLora(assets, bits);
      const seen: KeyTrainingProgress[] = [];
      const result = await trainKeyLora(assets, bits, factors, { steps: 3, onProgress: (p) => seen.push(p) });
      expect(seen.map((p) => [p.step, p.total])).toEqual([
        [1, 3],
        [2, 3],
        [3, 3],
      ]);
      for (const p of seen) {
        expect(p.bitAccuracy).toBeGreaterThan(0.5); // the generator's LoRA already reads back better than chance
        expect(p.psnrDb).toBeGreaterThan(20);
      }
      expect(result.steps).toBe(3);
      expect(result.tensors.map((t) => [t.name, t.shape])).toEqual(factors.map((t) => [t.name, t.shape]));
      for (const [i, t] of result.tensors.entries()) {
        const before = factors[i]!.data as Float32Array;
        if (t.name.endsWith('lora_B.weight')) expect(t.data).toEqual(before); // B stays the generator's
        else expect(t.data).not.toEqual(before);
        expect((t.data as Float32Array).every(Number.isFinite)).toBe(true);
      }
    });

    it('with gains only, scales each row of each A factor by one number', { timeout: 120_000 }, async () => {
      const gainsOnly = { ...assets, keyTrainer: { ...trainer, trains: ['gains' as const] } };
      const factors = await generateLora(assets, bits);
      const result = await trainKeyLora(gainsOnly, bits, factors, { steps: 2 });
      const rank = trainer.gains_shape[1];
      let changedRows = 0;
      for (const [i, t] of result.tensors.entries()) {
        const before = factors[i]!.data as Float32Array;
        const after = t.data as Float32Array;
        if (t.name.endsWith('lora_B.weight')) {
          expect(after).toEqual(before);
          continue;
        }
        const per = before.length / rank;
        for (let k = 0; k < rank; k++) {
          let gain: number | null = null;
          for (let j = k * per; j < (k + 1) * per; j++) {
            if (Math.abs(before[j]!) < 1e-6) continue;
            const g = after[j]! / before[j]!;
            if (gain === null) gain = g;
            else expect(g).toBeCloseTo(gain, 3);
          }
          if (gain !== null && Math.abs(gain - 1) > 1e-6) changedRows++;
        }
      }
      expect(changedRows).toBeGreaterThan(0);
    });

    it('keeps the generated LoRA at 0 steps', async () => {
      const factors = await generateLora(assets, bits);
      const result = await trainKeyLora(assets, bits, factors, { steps: 0 });
      expect(result.tensors).toBe(factors);
      expect(result.bitAccuracy).toBeNull();
    });

    it('stores a trained key with its figures, and nothing when the training is cancelled', { timeout: 120_000 }, async () => {
      const keys = new KeyStore(tempDir('atelier-wm-train-'), () => assets);
      const key = await keys.create('Trained', { steps: 2 });
      expect(key.training).toMatchObject({ steps: 2 });
      expect(key.training!.bitAccuracy).toBeGreaterThan(0.5);
      expect((await keys.list()).find((k) => k.id === key.id)?.training).toEqual(key.training);
      await keys.rename(key.id, 'Trained, renamed');
      expect((await keys.list()).find((k) => k.id === key.id)).toMatchObject({ name: 'Trained, renamed', training: key.training });

      const controller = new AbortController();
      const creating = keys.create('Cancelled', {
        steps: 50,
        signal: controller.signal,
        onProgress: (p) => {
          if (p.step === 1) controller.abort();
        },
      });
      await expect(creating).rejects.toBeInstanceOf(CancelledError);
      expect((await keys.list()).map((k) => k.name)).not.toContain('Cancelled');
      expect(readdirSync(keys.dir).filter((n) => !n.startsWith(key.id))).toEqual([]);
    });

    it('refuses a trainer whose gains do not fit the generator, naming the file', async () => {
      const factors = await generateLora(assets, bits);
      const wrong = { ...assets, keyTrainer: { ...trainer, gains_shape: [trainer.gains_shape[0] - 1, trainer.gains_shape[1]] as [number, number] } };
      await expect(trainKeyLora(wrong, bits, factors, { steps: 1 })).rejects.toThrow(/key_trainer\.onnx: gains for \d+ layers, the manifest names \d+ targets/);
      const noRate = { ...assets, keyTrainer: { ...trainer, factor_lr: undefined } };
      await expect(trainKeyLora(noRate, bits, factors, { steps: 1 })).rejects.toThrow(/key_trainer\.onnx: the manifest trains the A factors but gives no factor_lr/);
      const noTrainer = { ...assets, keyTrainer: null };
      await expect(trainKeyLora(noTrainer, bits, factors, { steps: 1 })).rejects.toThrow(/no key trainer/);
    });
  });
}
