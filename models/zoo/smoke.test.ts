/**
 * The tiny model zoo's CI smoke build, run by `npm test`: every zoo model trains a few steps in a
 * temporary folder, exports, passes onnx.checker and comes back through zoo.recover (ONNX -> PyTorch
 * -> ONNX, every initializer equal; the Kontext transformer after a depth growth); the SliderEdit
 * leakage probe sweeps one item, and its pixel measure checks its ruler and sweeps one part through
 * the CLI; every layout twin builds, checks and runs.
 * Needs Debian's PyTorch and ONNX (see models/zoo/README.md); says so and skips without them.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const zooDir = path.dirname(fileURLToPath(import.meta.url));
const python = process.env.ZOO_PYTHON ?? '/usr/bin/python3';

function torchAvailable(): string | null {
  const probe = spawnSync(python, ['-c', 'import torch, onnx, numpy'], { encoding: 'utf8' });
  if (probe.error) return `${python} not found`;
  return probe.status === 0 ? null : `${python} cannot import torch, onnx and numpy (apt-get install -y python3-torch python3-numpy python3-onnx libopenblas0-pthread)`;
}

const missing = torchAvailable();
if (missing) process.stdout.write(`zoo smoke skipped: ${missing}\n`);

function run(args: string[]): { status: number | null; output: string } {
  const result = spawnSync(python, args, { cwd: zooDir, encoding: 'utf8', env: { ...process.env, PYTHONUNBUFFERED: '1' }, timeout: 15 * 60_000 });
  return { status: result.status, output: `${result.stdout ?? ''}${result.stderr ?? ''}` };
}

describe.skipIf(missing !== null)('tiny model zoo smoke build', () => {
  it('trains every model a few steps, exports it and checks every export', () => {
    const result = run(['-m', 'zoo.build', '--smoke']);
    expect(result.status, result.output.slice(-4000)).toBe(0);
    // zoo.recover read every export back into PyTorch and exported it again, initializer for initializer
    for (const graph of ['vae_encoder', 'vae_decoder', 'text_encoder', 'text_encoder_2', 'transformer']) {
      expect(result.output).toMatch(new RegExp(`round trip kontext/${graph}: \\d+ initializers equal`));
    }
    expect(result.output).toMatch(/round trip judge: \d+ initializers equal/);
    // the SliderEdit leakage probe (zoo.slideredit_probe) sweeps one item in both modes
    expect(result.output).toMatch(/stlora: leakage [\d.]+ \(\d+ of \d+ sweeps/);
    expect(result.output).toMatch(/teacher: leakage [\d.]+ \(\d+ of \d+ sweeps/);
    // the pixel ruler of zoo.slideredit_pixels reads a render half way to the target as 0.5, and one sweep
    // goes through the built CLI (`npm test` builds first)
    expect(result.output).toMatch(/ruler: \d+ parts' half-way renders read 0\.5/);
    expect(result.output).toMatch(/1 sweep through the CLI: 'make [^']+' progress \[(-?[\d.]+, ){8}-?[\d.]+\]/);
    // the Kontext smoke grows its model by two blocks (zoo.kontext --grow-double / --grow-single) without
    // changing its output, and the grown model's export is what the round trip above read back
    const growth = /depth growth: .* 4\+6 -> 5\+7 blocks, max abs output change (\S+)/.exec(result.output);
    expect(growth, 'no depth growth in the Kontext smoke').not.toBeNull();
    expect(Number(growth![1])).toBeLessThanOrEqual(1e-5);
  }, 15 * 60_000);

  it('builds, checks and runs every layout twin', () => {
    const result = run(['-m', 'zoo.twins.build', '--smoke']);
    expect(result.status, result.output.slice(-4000)).toBe(0);
    expect(result.output).toMatch(/\b\d+ passed, 0 failed/);
  }, 10 * 60_000);
});
