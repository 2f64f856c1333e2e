/**
 * `atelier lora inspect`: format, ranks and targets of a file; with --model, its coverage on a
 * twin's real graphs (mapped, unmapped with the reason, unused keys), as lines or one JSON object;
 * a malformed file or bad usage exits 2 with one line.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loraFile, randomLora } from '../testing/adapters.js';
import { tempDir } from '../testing/models.js';
import { twinDir } from '../testing/twins.js';
import { captureCliOutput } from '../testing/cli-output.js';
import { main } from './main.js';

const { stdout, stderr } = captureCliOutput();

const model = twinDir('flux-optimum');
const transformer = path.join(model, 'transformer', 'model.onnx');

describe('atelier lora inspect', () => {
  it('prints the format and, with --model, a complete coverage as one JSON object', async () => {
    const file = path.join(tempDir(), 'style.safetensors');
    writeFileSync(file, loraFile(randomLora(transformer, ['transformer_blocks.0.attn.to_q', 'transformer_blocks.0.attn.add_v_proj'], { rank: 4, alpha: 4 }), 'kohya'));
    expect(await main(['lora', 'inspect', file, '--model', model, '--json'])).toBe(0);
    expect(stdout).toHaveLength(1);
    const out = JSON.parse(stdout[0]!) as { format: string; ranks: number[]; targets: number; components: Record<string, number>; coverage: { complete: boolean; mapped: number; entries: Array<{ graph: string; weight: string; mapped: boolean }> } };
    expect(out).toMatchObject({ format: 'kohya', ranks: [4], targets: 2, components: { denoiser: 2 } });
    expect(out.coverage.complete).toBe(true);
    expect(out.coverage.entries.map((e) => [e.graph, e.weight.startsWith('onnx::MatMul_')])).toEqual([
      ['transformer', true],
      ['transformer', true],
    ]);
  });

  it('lists what does not map and why, and the keys it cannot use', async () => {
    const file = path.join(tempDir(), 'partial.safetensors');
    const modules = randomLora(transformer, ['transformer_blocks.0.attn.to_q'], { rank: 2 });
    const wrong = { ...modules[0]!, module: 'transformer_blocks.7.attn.to_q' };
    writeFileSync(file, loraFile([...modules, wrong], 'peft'));
    expect(await main(['lora', 'inspect', file, '--model', model])).toBe(0);
    const text = stdout.join('');
    expect(text).toMatch(/: peft \(lora\), rank 2, 2 targets \(2 denoiser\)\n/);
    expect(text).toMatch(/model {5}flux-optimum \(flux-dev\): 1 of 2 targets mapped; no module transformer_blocks\.7\.attn\.to_q in the graph \(no node \/transformer_blocks\.7\/attn\/to_q\/MatMul\|Gemm\|Conv\)/);
    expect(text).toMatch(/ {2}unmapped {2}transformer\.transformer_blocks\.7\.attn\.to_q -> transformer_blocks\.7\.attn\.to_q: no module/);
    stdout.length = 0;
    expect(await main(['lora', 'inspect', file])).toBe(0);
    expect(stdout.join('')).toMatch(/pass --model DIR/);
  });

  it('exits 2 with one line for a malformed file and for bad usage', async () => {
    const file = path.join(tempDir(), 'bad.safetensors');
    writeFileSync(file, 'not a safetensors file at all');
    expect(await main(['lora', 'inspect', file])).toBe(2);
    expect(await main(['lora', 'inspect'])).toBe(2);
    expect(await main(['lora', 'merge'])).toBe(2);
    expect(stderr[0]).toMatch(new RegExp(`^atelier lora: ${file}: not a valid safetensors file: header length \\d+ exceeds the 104857600-byte limit\n$`));
    expect(stderr.slice(1)).toEqual([
      'atelier lora: usage: atelier lora inspect FILE [--model DIR] [--json]\n',
      'atelier lora: unknown "lora" command "merge" (try: lora inspect FILE)\n',
    ]);
  });
});
