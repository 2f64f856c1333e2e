/**
 * `atelier edit` with SliderEdit flags: one-line errors with exit code 2 for bad flags (unknown
 * sub-instruction, out-of-range value, malformed pairs, a split that does not fit), and real runs
 * on the Kontext twin with an STLoRA file: strengths recorded in the output's metadata, a sweep
 * writing its row image and numbered frames.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeImage } from '../images/codec.js';
import { tempDir } from '../testing/models.js';
import { kontextTwin, sourcePng, writeRandomStlora } from '../testing/slideredit.js';
import { frameFile, rowImage, sliderPlan } from './commands/sliders.js';
import { captureCliOutput } from '../testing/cli-output.js';
import { main } from './main.js';

const { stdout, stderr } = captureCliOutput();

const instruction = 'make the square blue and move it left';

describe('SliderEdit flags', () => {
  it('plans strengths by part name, the user\'s split and sweeps', () => {
    expect(sliderPlan(instruction, { strength: [] })).toBeNull();
    expect(sliderPlan(instruction, { strength: ['Move it left = 0.25'] })).toEqual({ parts: ['make the square blue', 'move it left'], strengths: [1, 0.25], sweep: null });
    expect(sliderPlan(instruction, { strength: [], parts: 'make the square|blue and move it left', sweep: 'make the square' })).toEqual({
      parts: ['make the square', 'blue and move it left'],
      strengths: [1, 1],
      sweep: { part: 0, values: [0, 0.5, 1, 1.5, 2] },
    });
    expect(sliderPlan(instruction, { strength: ['make the square blue=2'], sweep: 'move it left', sweepValues: '0, 1,2' })?.sweep).toEqual({ part: 1, values: [0, 1, 2] });
    expect(frameFile('/out/row.png', 2, 1.5)).toBe('/out/row-2-1.5.png');
    // the same words twice: a name given again takes the next part; "#N" names a part by number
    const twice = 'make it bigger and make it bigger';
    expect(sliderPlan(twice, { strength: ['make it bigger=0.5', 'make it bigger=1.5'] })?.strengths).toEqual([0.5, 1.5]);
    expect(sliderPlan(twice, { strength: ['#1=0'], sweep: '#2' })).toMatchObject({ strengths: [0, 1], sweep: { part: 1 } });
    // a name may end with the sentence's punctuation, which the split leaves out of the part
    expect(sliderPlan('make it red and add snow.', { strength: ['add snow.=0.5'] })?.strengths).toEqual([1, 0.5]);
    expect(sliderPlan('make it red and add snow.', { strength: ['add snow.=0.5'], parts: 'make it red|add snow.' })?.strengths).toEqual([1, 0.5]);
    expect(sliderPlan('make it red and add snow.', { strength: ['add snow=0.5'], parts: 'make it red|add snow.' })?.strengths).toEqual([1, 0.5]);
    expect(() => sliderPlan(twice, { strength: ['#3=0'] })).toThrow('--strength: there is no part #3; the instruction has 2');
    expect(() => sliderPlan(twice, { strength: ['make it bigger=0', 'make it bigger=1', 'make it bigger=2'] })).toThrow('"make it bigger" is given twice');
  });

  it('lays sweep frames side by side', () => {
    const a = { width: 2, height: 1, data: Uint8Array.of(1, 1, 1, 2, 2, 2) };
    const b = { width: 1, height: 1, data: Uint8Array.of(3, 3, 3) };
    expect(rowImage([a, b])).toEqual({ width: 3, height: 1, data: Uint8Array.of(1, 1, 1, 2, 2, 2, 3, 3, 3) });
  });

  it('exits 2 with one line for bad slider flags', async () => {
    const image = path.join(tempDir(), 'in.png');
    writeFileSync(image, await sourcePng());
    const edit = (...flags: string[]) => main(['edit', '--image', image, '--instruction', instruction, ...flags]);
    expect(await edit('--strength', 'make it red=0.5')).toBe(2);
    expect(await edit('--strength', 'move it left=2.5')).toBe(2);
    expect(await edit('--strength', 'move it left')).toBe(2);
    expect(await edit('--strength', 'move it left=0', '--strength', 'MOVE IT LEFT=1')).toBe(2);
    expect(await edit('--sweep', 'make it red')).toBe(2);
    expect(await edit('--sweep', 'move it left', '--sweep-values', '0,3')).toBe(2);
    expect(await edit('--sweep-values', '0,1')).toBe(2);
    expect(await edit('--parts', 'move it left|make the square blue')).toBe(2);
    expect(await edit('--parts', 'make the square blue||move it left')).toBe(2);
    expect(await edit('--strength', 'move it left=0', '--sweep', 'move it left')).toBe(2);
    expect(await edit('--out', 'edited.jpg')).toBe(2);
    expect(stderr).toEqual([
      'atelier edit: --strength: "make it red" is not a sub-instruction; they are: "make the square blue", "move it left"\n',
      'atelier edit: --strength "move it left" must be a number from 0 to 2, got "2.5"\n',
      'atelier edit: --strength must look like "SUB-INSTRUCTION=VALUE", got "move it left"\n',
      'atelier edit: --strength: "move it left" is given twice\n',
      'atelier edit: --sweep: "make it red" is not a sub-instruction; they are: "make the square blue", "move it left"\n',
      'atelier edit: --sweep-values: each value must be a number from 0 to 2, got "3"\n',
      'atelier edit: --sweep-values needs --sweep\n',
      `atelier edit: --parts: sub-instruction "make the square blue" is out of order in the instruction "${instruction}"\n`,
      'atelier edit: --parts: part 2 of "make the square blue||move it left" is empty\n',
      'atelier edit: --sweep "move it left" also has a --strength: a sweep sets that part to each of --sweep-values (drop its --strength)\n',
      'atelier edit: --out: outputs are PNG files (with the job\'s metadata); name it .png, got "edited.jpg"\n',
    ]);
    expect(stdout).toEqual([]);
  });
});

describe('atelier edit with sliders on the Kontext twin', () => {
  let model: string;
  let stlora: string;
  let image: string;
  let work: string;
  beforeAll(async () => {
    model = kontextTwin({ manifest: true });
    work = tempDir();
    stlora = writeRandomStlora(path.join(model, 'transformer', 'model.onnx'), path.join(work, 'stlora.safetensors'));
    image = path.join(work, 'in.png');
    writeFileSync(image, await sourcePng());
  });
  const common = () => ['--image', image, '--instruction', instruction, '--model', model, '--stlora', stlora, '--provider', 'cpu', '--data-dir', path.join(work, 'data'), '--seed', '3', '--json'];

  it('runs an edit with strengths and records them', async () => {
    const out = path.join(work, 'one.png');
    expect(await main(['edit', ...common(), '--strength', 'move it left=0.5', '--out', out])).toBe(0);
    const result = JSON.parse(stdout[0]!) as { file: string; metadata: { sliders: unknown } };
    expect(result.file).toBe(out);
    expect(result.metadata.sliders).toEqual({ parts: ['make the square blue', 'move it left'], strengths: [1, 0.5] });
    expect((await decodeImage(readFileSync(out), { name: 'out' })).width).toBe(64);
  });

  it('sweeps one part: a row image and one file per value', async () => {
    const out = path.join(work, 'row.png');
    expect(await main(['edit', ...common(), '--sweep', 'make the square blue', '--sweep-values', '0,1,2', '--out', out])).toBe(0);
    const result = JSON.parse(stdout[0]!) as { row: string; values: number[]; frames: Array<{ value: number; file: string }> };
    expect(result.values).toEqual([0, 1, 2]);
    const row = await decodeImage(readFileSync(out), { name: 'row' });
    expect([row.width, row.height]).toEqual([192, 64]);
    expect(result.frames.map((f) => path.basename(f.file))).toEqual(['row-0-0.png', 'row-1-1.png', 'row-2-2.png']);
    for (const f of result.frames) expect(existsSync(f.file)).toBe(true);
    // the frames differ (the STLoRA acts) and the row holds them in order
    const frames = await Promise.all(result.frames.map((f) => decodeImage(readFileSync(f.file), { name: f.file })));
    expect(Buffer.from(frames[0]!.data).equals(Buffer.from(frames[2]!.data))).toBe(false);
    expect(Buffer.from(row.data.subarray(0, 64 * 3)).equals(Buffer.from(frames[0]!.data.subarray(0, 64 * 3)))).toBe(true);
  });
});
