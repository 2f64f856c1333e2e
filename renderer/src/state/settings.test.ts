/** Job settings: limits, seed lock semantics, requests, restoring from metadata. */
import { describe, expect, it } from 'vitest';
import { metadata } from '../../test/fake-engine.js';
import { Settings } from './settings.svelte.js';

describe('Settings', () => {
  it('snaps width and height to multiples of 16 within the engine limits', () => {
    const s = new Settings();
    s.setWidth(100);
    s.setHeight(7);
    expect([s.width, s.height]).toEqual([96, 16]);
    s.setWidth(99_999);
    expect(s.width).toBe(4096);
  });

  it('clamps steps and guidance', () => {
    const s = new Settings();
    s.setSteps(0);
    expect(s.steps).toBe(1);
    s.setSteps(1000);
    expect(s.steps).toBe(200);
    s.setGuidance(-1);
    expect(s.guidance).toBe(0);
    s.setGuidance(3.14159);
    expect(s.guidance).toBe(3.14);
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

  it('keeps the prompt and the instruction apart', () => {
    const s = new Settings();
    s.text = 'a circle';
    s.mode = 'edit';
    expect(s.text).toBe('');
    s.text = 'make it red';
    s.mode = 'generate';
    expect(s.text).toBe('a circle');
    expect(s.instruction).toBe('make it red');
  });

  it('builds plain requests: an edit needs the image bytes', () => {
    const s = new Settings();
    s.mode = 'edit';
    expect(s.buildRequest(null)).toBeNull();
    const image = new Uint8Array([1, 2]);
    const request = s.buildRequest(image);
    expect(request).toMatchObject({ kind: 'edit', image, instruction: '' });
    expect(() => structuredClone(request)).not.toThrow();
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
});
