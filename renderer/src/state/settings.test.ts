/** Job settings: limits, seed lock semantics, requests per model and kind, restoring from metadata. */
import { describe, expect, it } from 'vitest';
import type { ModelInfo } from '../engine/protocol.js';
import { BIG_MODEL, TINY_MODEL, metadata } from '../../test/fake-engine.js';
import { Settings } from './settings.svelte.js';

/** Settings that read `model` as the loaded model, with its defaults applied. */
function settingsFor(model: ModelInfo | null): Settings {
  const s = new Settings(() => model);
  if (model) s.applyModel(model);
  return s;
}

const image = new Uint8Array([1, 2]);

describe('Settings', () => {
  it('snaps width and height to multiples of 16 within the engine limits', () => {
    const s = new Settings();
    s.setWidth(100);
    s.setHeight(7);
    expect([s.width, s.height]).toEqual([96, 16]);
    s.setWidth(99_999);
    expect(s.width).toBe(4096);
  });

  it('clamps steps, guidance and strength', () => {
    const s = new Settings();
    s.setSteps(0);
    expect(s.steps).toBe(1);
    s.setSteps(1000);
    expect(s.steps).toBe(200);
    s.setGuidance(-1);
    expect(s.guidance).toBe(0);
    s.setGuidance(3.14159);
    expect(s.guidance).toBe(3.14);
    s.setStrength(1.5);
    expect(s.strength).toBe(1);
    s.setStrength(-0.2);
    expect(s.strength).toBe(0);
    s.setStrength(0.333);
    expect(s.strength).toBe(0.33);
  });

  it('draws a fresh seed per request unless locked; typing a seed locks it', () => {
    const s = new Settings();
    const seeds = new Set(Array.from({ length: 5 }, () => s.buildRequest(null)?.seed));
    expect(seeds.size).toBeGreaterThan(1);
    s.setSeed(31);
    expect(s.seedLocked).toBe(true);
    expect(s.buildRequest(null)?.seed).toBe(31);
    expect(s.buildRequest(null)?.seed).toBe(31);
  });

  it('runs the edit task of the loaded model from the Edit tab', () => {
    expect(settingsFor(TINY_MODEL).kind).toBe('generate');
    const kontext = settingsFor(TINY_MODEL);
    kontext.mode = 'edit';
    expect(kontext.kind).toBe('edit');
    const sd = settingsFor(BIG_MODEL);
    sd.mode = 'edit';
    expect(sd.kind).toBe('img2img');
  });

  it('keeps the prompt, the instruction and the image-to-image prompt apart', () => {
    let model: ModelInfo = TINY_MODEL;
    const s = new Settings(() => model);
    s.text = 'a circle';
    s.mode = 'edit';
    expect(s.text).toBe('');
    s.text = 'make it red';
    model = BIG_MODEL;
    expect(s.text).toBe('');
    s.text = 'a watercolor';
    s.mode = 'generate';
    expect(s.text).toBe('a circle');
    expect([s.prompt, s.instruction, s.imagePrompt]).toEqual(['a circle', 'make it red', 'a watercolor']);
  });

  it("applies a model's defaults, its default sampler included", () => {
    const s = settingsFor(BIG_MODEL);
    expect({ steps: s.steps, guidance: s.guidance, width: s.width, height: s.height, scheduler: s.scheduler }).toEqual({
      steps: 25,
      guidance: 7.5,
      width: 512,
      height: 512,
      scheduler: 'euler-a',
    });
    expect(s.schedulerChoices).toEqual(BIG_MODEL.schedulers);
    expect(s.takesNegativePrompt).toBe(true);
    expect(settingsFor(TINY_MODEL).takesNegativePrompt).toBe(false);
  });

  it('builds a generate request with what the model takes: size unless fixed, sampler, negative prompt', () => {
    const sd = settingsFor(BIG_MODEL);
    sd.setSeed(7);
    sd.prompt = 'a lighthouse';
    sd.negativePrompt = 'fog';
    sd.scheduler = 'ddim';
    sd.setWidth(640);
    expect(sd.buildRequest(null)).toEqual({
      kind: 'generate',
      prompt: 'a lighthouse',
      negativePrompt: 'fog',
      seed: 7,
      steps: 25,
      guidance: 7.5,
      width: 640,
      height: 512,
      scheduler: 'ddim',
    });
    sd.negativePrompt = '   ';
    expect(sd.buildRequest(null)).not.toHaveProperty('negativePrompt');

    const tiny = settingsFor(TINY_MODEL);
    tiny.setSeed(7);
    tiny.prompt = 'a square';
    tiny.negativePrompt = 'left over from another model';
    expect(tiny.buildRequest(null)).toEqual({ kind: 'generate', prompt: 'a square', seed: 7, steps: 4, guidance: 2.5, scheduler: 'flow-euler' });
  });

  it('builds edit requests that need the image bytes: an instruction edit or image-to-image', () => {
    const kontext = settingsFor(TINY_MODEL);
    kontext.mode = 'edit';
    expect(kontext.buildRequest(null)).toBeNull();
    kontext.setSeed(3);
    kontext.instruction = 'make it red';
    const edit = kontext.buildRequest(image);
    expect(edit).toEqual({ kind: 'edit', image, instruction: 'make it red', seed: 3, steps: 4, guidance: 2.5 });
    expect(() => structuredClone(edit)).not.toThrow();

    const sd = settingsFor(BIG_MODEL);
    sd.mode = 'edit';
    sd.setSeed(3);
    sd.imagePrompt = 'a watercolor';
    sd.negativePrompt = 'photo';
    sd.setStrength(0.35);
    sd.scheduler = 'lcm';
    const img2img = sd.buildRequest(image);
    expect(img2img).toEqual({
      kind: 'img2img',
      image,
      prompt: 'a watercolor',
      negativePrompt: 'photo',
      strength: 0.35,
      seed: 3,
      steps: 25,
      guidance: 7.5,
      scheduler: 'lcm',
    });
    expect(() => structuredClone(img2img)).not.toThrow();
  });

  it('restores an output and locks its seed', () => {
    const s = new Settings();
    s.restore(metadata({ kind: 'generate', text: 'x', seed: 8, steps: 3, guidance: 1.5, width: 32, height: 80 }));
    expect({ mode: s.mode, prompt: s.prompt, seed: s.seed, locked: s.seedLocked, steps: s.steps, guidance: s.guidance, width: s.width, height: s.height }).toEqual({
      mode: 'generate',
      prompt: 'x',
      seed: 8,
      locked: true,
      steps: 3,
      guidance: 1.5,
      width: 32,
      height: 80,
    });
  });

  it('restores the sampler, negative prompt and strength of an image-to-image output into the Edit tab', () => {
    const s = settingsFor(BIG_MODEL);
    s.negativePrompt = 'stale';
    s.restore(metadata({ kind: 'img2img', text: 'a watercolor', scheduler: 'dpmpp-2m', negativePrompt: 'photo', strength: 0.25 }));
    expect({ mode: s.mode, kind: s.kind, text: s.text, scheduler: s.scheduler, negative: s.negativePrompt, strength: s.strength }).toEqual({
      mode: 'edit',
      kind: 'img2img',
      text: 'a watercolor',
      scheduler: 'dpmpp-2m',
      negative: 'photo',
      strength: 0.25,
    });
    // an output made without a negative prompt clears it, so Run reproduces the output
    s.restore(metadata({ kind: 'generate', scheduler: 'euler' }));
    expect([s.mode, s.scheduler, s.negativePrompt]).toEqual(['generate', 'euler', '']);
  });

  it("falls back to the model's default sampler when the output's is not available", () => {
    const s = settingsFor(BIG_MODEL);
    s.scheduler = 'ddim';
    s.restore(metadata({ kind: 'generate', scheduler: 'flow-euler' }));
    expect(s.scheduler).toBe('euler-a');
    s.restore(metadata({ kind: 'generate', scheduler: undefined })); // older outputs: flow matching
    expect(s.scheduler).toBe('euler-a');
  });
});
