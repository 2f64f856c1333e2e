/**
 * SliderEdit through the Engine API (what the RPC server and the CLI call): sliderParts with and
 * without an STLoRA beside the model (the `slideredit/` folder convention), edit jobs with sliders
 * that report step previews and record their strengths, a plain edit after them, and the protocol
 * refusing strengths out of range.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../engine.js';
import { decodeImage } from '../../images/codec.js';
import { EditJob, methods } from '../../protocol/index.js';
import { tempDir } from '../../testing/models.js';
import { kontextTwin, sourcePng, writeRandomStlora } from '../../testing/slideredit.js';

describe('SliderEdit in the engine (Kontext twin)', () => {
  let engine: Engine;
  let model: string;
  let png: Uint8Array;

  beforeAll(async () => {
    model = kontextTwin({ manifest: true });
    png = await sourcePng();
    engine = new Engine({ dataDir: tempDir(), modelRoots: [{ dir: model, embedded: true, explicit: true }], previewEvery: 1 });
    const info = engine.listModels()[0]!;
    await engine.loadModel(info.id, 'cpu');
  });
  afterAll(async () => {
    await engine.shutdown();
  });

  it('splits and tokenizes, and says the model has no STLoRA until one is beside it', () => {
    const before = engine.sliderParts('make the square blue, then move it left');
    expect(before.parts.map((p) => [p.text, p.start, p.end])).toEqual([
      ['make the square blue', 0, 20],
      ['move it left', 27, 39],
    ]);
    expect(before.parts.every((p) => p.tokens !== null && p.tokens[0] < p.tokens[1])).toBe(true);
    expect(before.available).toBe(false);
    expect(before.reason).toMatch(/no SliderEdit STLoRA/);
    const folder = path.join(model, 'slideredit');
    mkdirSync(folder);
    const file = writeRandomStlora(path.join(model, 'transformer', 'model.onnx'), path.join(tempDir(), 'stlora.safetensors'));
    copyFileSync(file, path.join(folder, 'stlora.safetensors'));
    expect(engine.sliderParts('make the square blue, then move it left')).toMatchObject({ available: true, reason: null });
    expect(() => engine.sliderParts('make the square blue', ['make it red'])).toThrow('sub-instruction "make it red" is not part of the instruction');
  });

  it('runs edit jobs with sliders: previews every step, strengths in the metadata, then a plain edit', async () => {
    const previews: number[] = [];
    const request = { kind: 'edit' as const, image: png, instruction: 'make the square blue, then move it left', seed: 4 };
    const first = await engine.runJob({ ...request, sliders: { parts: [], strengths: [0.5, 1.5] } }, (p) => p.preview && previews.push(p.step));
    expect(previews).toEqual([1, 2]);
    expect(first.metadata.sliders).toEqual({ parts: ['make the square blue', 'move it left'], strengths: [0.5, 1.5] });
    const same = await engine.runJob({ ...request, sliders: { parts: [], strengths: [0.5, 1.5] } });
    const pixels = async (bytes: Uint8Array) => Buffer.from((await decodeImage(bytes, { name: 'output' })).data);
    expect((await pixels(same.image.bytes)).equals(await pixels(first.image.bytes))).toBe(true); // the PNGs differ in their creation time
    const plain = await engine.runJob(request);
    expect(plain.metadata.sliders).toBeUndefined();
    // the STLoRA stays at weight 0 for a plain edit (no session rebuild); text to image takes it off
    expect(engine.adapters.methodAdapters().map((a) => a.weight)).toEqual([0]);
    await engine.runJob({ kind: 'generate', prompt: 'a blue square', seed: 1 });
    expect(engine.adapters.methodAdapters()).toEqual([]);
    await expect(engine.runJob({ ...request, sliders: { parts: [], strengths: [1] } })).rejects.toThrow('2 sub-instructions ("make the square blue", "move it left") but 1 strengths: give one strength per sub-instruction, in order');
  });

  it('keeps the sliders working after the model is loaded again (the STLoRA is installed anew)', async () => {
    const request = { kind: 'edit' as const, image: png, instruction: 'make the square blue, then move it left', seed: 9 };
    const pixels = async (bytes: Uint8Array) => Buffer.from((await decodeImage(bytes, { name: 'output' })).data);
    const slid = await pixels((await engine.runJob({ ...request, sliders: { parts: [], strengths: [0, 2] } })).image.bytes);
    const plain = await pixels((await engine.runJob(request)).image.bytes);
    expect(slid.equals(plain)).toBe(false);
    await engine.runJob({ ...request, sliders: { parts: [], strengths: [0, 2] } }); // the STLoRA in place when the model goes
    await engine.loadModel(engine.listModels()[0]!.id, 'cpu');
    expect(engine.adapters.methodAdapters()).toEqual([]);
    const again = await pixels((await engine.runJob({ ...request, sliders: { parts: [], strengths: [0, 2] } })).image.bytes);
    expect(again.equals(slid)).toBe(true);
  });

  it('a slider preview replaces the earlier preview of the same edit it names; nothing else can be replaced', async () => {
    const request = { kind: 'edit' as const, image: png, instruction: 'make the square blue, then move it left', seed: 5 };
    const first = await engine.runJob({ ...request, sliders: { parts: [], strengths: [0.5, 1] }, preview: true });
    expect(first.metadata.preview).toBe(true);
    const second = await engine.runJob({ ...request, sliders: { parts: [], strengths: [0.25, 1] }, preview: true, replaces: first.jobId });
    expect(second.replaced).toBe(first.jobId);
    const listed = (await engine.listHistory()).map((e) => e.jobId);
    expect(listed).toContain(second.jobId);
    expect(listed).not.toContain(first.jobId);
    await expect(engine.readHistoryImage(first.jobId)).rejects.toThrow(/no output image/);
    // gone already: the render runs and replaces nothing
    expect((await engine.runJob({ ...request, sliders: { parts: [], strengths: [0, 1] }, preview: true, replaces: first.jobId })).replaced).toBeUndefined();
    // a Run's output (sliders, no preview), another seed, another instruction: refused before running
    const run = await engine.runJob({ ...request, sliders: { parts: [], strengths: [0, 1] } });
    const slide = { ...request, sliders: { parts: [], strengths: [0, 1] }, preview: true };
    await expect(engine.runJob({ ...slide, replaces: run.jobId })).rejects.toThrow('cannot be replaced: only a slider preview of the same edit');
    await expect(engine.runJob({ ...slide, seed: 6, replaces: second.jobId })).rejects.toThrow('cannot be replaced');
    await expect(engine.runJob({ ...slide, instruction: 'make the square blue', sliders: { parts: [], strengths: [0] }, replaces: second.jobId })).rejects.toThrow('cannot be replaced');
    await expect(engine.runJob({ ...request, sliders: { parts: [], strengths: [0, 1] }, replaces: second.jobId })).rejects.toThrow('needs preview');
    await expect(engine.runJob({ ...request, preview: true })).rejects.toThrow('needs sliders');
    const listed2 = (await engine.listHistory()).map((e) => e.jobId);
    expect(listed2).toContain(run.jobId);
    expect(listed2).toContain(second.jobId);
  });

  it('the protocol refuses strengths out of [0, 2] and unknown slider fields', () => {
    const base = { kind: 'edit', image: new Uint8Array(1), instruction: 'x' };
    expect(EditJob.safeParse({ ...base, sliders: { parts: [], strengths: [2.5] } }).success).toBe(false);
    expect(EditJob.safeParse({ ...base, sliders: { parts: [], strengths: [1], extra: 1 } }).success).toBe(false);
    expect(EditJob.safeParse({ ...base, sliders: { parts: ['x'], strengths: [0] } }).success).toBe(true);
    expect(methods.sliderParts.params.safeParse({ instruction: 'a and b', parts: ['a', 'b'] }).success).toBe(true);
  });
});
