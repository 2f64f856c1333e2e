/**
 * A stand-in pipeline for engine-level tests (queue, events, cancellation, history, RPC): it
 * "denoises" a gradient in `steps` steps, yielding to the event loop between steps as the real
 * pipeline does, and checks its AbortSignal like the real one. The real pipelines are tested on
 * real models elsewhere.
 */
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { throwIfCancelled } from '../errors.js';
import type { RgbImage } from '../images/rgb.js';
import { packageRoot } from '../paths.js';
import type { EditInput, GenerateInput, Pipeline, RunHooks } from '../pipelines/pipeline.js';

export class FakePipeline implements Pipeline {
  readonly provider = 'cpu' as const;
  readonly notice = null;
  released = false;
  stepDelayMs: number;

  constructor(stepDelayMs = 1) {
    this.stepDelayMs = stepDelayMs;
  }

  private async run(width: number, height: number, steps: number, seed: number, hooks: RunHooks): Promise<RgbImage> {
    for (let i = 1; i <= steps; i++) {
      throwIfCancelled(hooks.signal);
      await new Promise((r) => setTimeout(r, this.stepDelayMs));
      await hooks.onStep?.({ step: i, total: steps, preview: hooks.wantPreview ? { width: 2, height: 2, data: new Uint8Array(12).fill(i) } : null });
    }
    const data = new Uint8Array(width * height * 3);
    for (let i = 0; i < data.length; i++) data[i] = (i + seed) % 256;
    return { width, height, data };
  }

  generate(input: GenerateInput, hooks: RunHooks): Promise<RgbImage> {
    return this.run(input.width, input.height, input.steps, input.seed, hooks);
  }

  edit(input: EditInput, hooks: RunHooks): Promise<RgbImage> {
    return this.run(input.width, input.height, input.steps, input.seed, hooks);
  }

  async release(): Promise<void> {
    this.released = true;
  }
}

/**
 * A model folder that passes detection: a copy of the FLUX Optimum layout twin (random weights)
 * with a manifest naming it and making it a 16 x 16 Kontext model with 4 default steps.
 */
export function writeFakeModelFolder(root: string, name = 'fake-kontext'): string {
  const dir = path.join(root, name);
  mkdirSync(root, { recursive: true });
  cpSync(path.join(packageRoot(), 'models', 'twins', 'flux-optimum'), dir, { recursive: true });
  writeFileSync(
    path.join(dir, 'atelier.json'),
    JSON.stringify({
      format: 'atelier-model/1',
      name,
      family: 'flux-kontext',
      layout: 'optimum-flux',
      image_size: [16, 16],
      latent_channels: 16,
      vae_scale_factor: 8,
      vae: { scaling_factor: 1, shift_factor: 0 },
      text: { clip_max_length: 8, t5_max_length: 8 },
      defaults: { steps: 4, guidance: 2.5 },
    }),
  );
  return dir;
}
