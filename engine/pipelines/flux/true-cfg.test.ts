/**
 * True classifier-free guidance (FluxSpec.trueCfg) on the trained tiny Kontext model, whose
 * manifest asks for it: the guided velocity is v_neg + g (v - v_neg); guidance <= 1 runs one pass
 * per step and two passes otherwise, batched in one run (rows [prompt, negative]); the batched
 * step gives the two separate runs' image; a negative prompt equal to the prompt makes any
 * guidance the unguided image exactly; the empty negative prompt at the default guidance changes
 * the image; a prompt-only adapter with a scalar scale (the zoo's GSTLoRA) cannot give the two rows
 * different scales, so its guided steps run as two runs (at weight 0 the rows agree and batch).
 * Skips, saying why, when the model folder is absent. ATELIER_ZOO_KONTEXT points at another folder.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { AdapterManager } from '../../adapters/manager.js';
import { findCheckpoints } from '../../methods/slideredit/checkpoint.js';
import { describeModelFolder } from '../../models/detect.js';
import { packageRoot } from '../../paths.js';
import { ModelSession } from '../../runtime/session.js';
import { maxAbsDiff } from '../../testing/adapters.js';
import { tempDir } from '../../testing/models.js';
import { FluxPipeline, guidedVelocity } from './pipeline.js';

const modelDir = process.env.ATELIER_ZOO_KONTEXT ? path.resolve(process.env.ATELIER_ZOO_KONTEXT) : path.join(packageRoot(), 'models', 'tiny', 'kontext');
const present = existsSync(path.join(modelDir, 'atelier.json'));

describe('guidedVelocity', () => {
  it('is v_neg + g (v - v_neg), and v at g = 1', () => {
    const v = Float32Array.of(1, -2, 0.5);
    const neg = Float32Array.of(0.5, 1, 0.5);
    expect(Array.from(guidedVelocity(v, neg, 3))).toEqual([2, -8, 0.5]);
    expect(Array.from(guidedVelocity(v, neg, 1))).toEqual(Array.from(v));
  });
});

if (!present) {
  describe('true CFG on the tiny Kontext model', () => {
    it.skip(`skipped: ${modelDir} is absent (the zoo exports it)`, () => undefined);
  });
} else {
  describe('true CFG on the tiny Kontext model', () => {
    it('runs the negative pass only when guided, batched with the prompt where the adapters allow, and the guided image is the unguided one when the negative prompt is the prompt', async () => {
      const descriptor = describeModelFolder(modelDir, true);
      expect(descriptor.spec.pipeline === 'flux' && descriptor.spec.trueCfg).toBe(true);
      expect(descriptor.info.negativePrompt).toBe(true);
      const guidance = descriptor.info.defaults.guidance;
      expect(guidance).toBeGreaterThan(1);
      const pipeline = await FluxPipeline.load(descriptor, 'cpu', { graphCacheDir: tempDir() });
      const prompt = 'a large red circle at the left on a white background';
      const steps = 4;
      const base = { prompt, seed: 7, steps, width: 64, height: 64, scheduler: 'flow-euler' };
      const latentsOf = async (guidanceValue: number, negativePrompt: string) => {
        let latents = new Float32Array(0);
        const passes: string[][] = [];
        const original = ModelSession.prototype.run;
        const spy = vi.spyOn(ModelSession.prototype, 'run').mockImplementation(function (this: ModelSession, ...args) {
          if (this.hasInput('encoder_hidden_states')) passes.push([args[1] ?? 'prompt'].flat());
          return original.apply(this, args);
        });
        try {
          await pipeline.generate({ ...base, guidance: guidanceValue, negativePrompt }, { signal: new AbortController().signal, onLatents: (l) => void (latents = l.slice()) });
        } finally {
          spy.mockRestore();
        }
        return { latents, passes };
      };
      try {
        const single = await latentsOf(1, '');
        expect(single.passes).toEqual(new Array(steps).fill(['prompt']));
        expect(await pipeline.batchesGuidance()).toBe(true);
        const same = await latentsOf(guidance, prompt);
        expect(same.passes).toEqual(new Array(steps).fill(['prompt', 'negative']));
        expect(maxAbsDiff(same.latents, single.latents)).toBeLessThanOrEqual(1e-6);
        const guided = await latentsOf(guidance, '');
        expect(maxAbsDiff(guided.latents, single.latents)).toBeGreaterThan(1e-2);
        // the same step as two runs, when the graph or the adapters cannot batch it
        const unbatched = vi.spyOn(pipeline, 'batchesGuidance').mockResolvedValue(false);
        try {
          const separate = await latentsOf(guidance, '');
          expect(separate.passes).toEqual(new Array(steps).fill([['prompt'], ['negative']]).flat());
          expect(maxAbsDiff(separate.latents, guided.latents)).toBeLessThanOrEqual(1e-5);
        } finally {
          unbatched.mockRestore();
        }
        const gstlora = findCheckpoints(modelDir)?.gstlora;
        if (gstlora) {
          const adapters = new AdapterManager(tempDir());
          const id = (await adapters.add({ path: gstlora })).id;
          await adapters.setMethodAdapters(pipeline.adapters, [{ id, enabled: true, weight: 0, mode: 'live', promptOnly: true }]);
          expect(await pipeline.batchesGuidance()).toBe(true);
          await adapters.setMethodAdapters(pipeline.adapters, [{ id, enabled: true, weight: 0.5, mode: 'live', promptOnly: true }]);
          expect(await pipeline.batchesGuidance()).toBe(false);
          const scalar = await latentsOf(guidance, '');
          expect(scalar.passes).toEqual(new Array(steps).fill([['prompt'], ['negative']]).flat());
          expect(maxAbsDiff(scalar.latents, guided.latents)).toBeGreaterThan(1e-3);
          await adapters.setMethodAdapters(pipeline.adapters, []);
        }
      } finally {
        await pipeline.release();
      }
    }, 120_000);
  });
}
