import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeImage } from '../images/codec.js';
import { packageRoot } from '../paths.js';
import { Judge, defaultJudgeDir } from './judge.js';
import { readEditSet, type EditItem, type Scene } from './scenes.js';
import { editScore, t2iCorrect } from './scoring.js';

const scene = (background: string, ...objects: Array<[string, string, string, number]>): Scene => ({
  background,
  objects: objects.map(([shape, color, size, cell]) => ({ shape, color, size, cell })),
});

const item = (source: Scene, target: Scene, requested: Array<[number | null, string]>): EditItem => ({
  id: 'x',
  source: 'x.png',
  instruction: 'x',
  parts: [],
  n_parts: requested.length,
  seed: 1,
  source_scene: source,
  target_scene: target,
  requested: requested.map(([object, attribute]) => ({ object, attribute })),
});

describe('scoring (as the zoo builder scores)', () => {
  it('text-to-image: every attribute and no extra shapes, in any object order', () => {
    const want = scene('white', ['circle', 'red', 'large', 0], ['square', 'blue', 'small', 4]);
    expect(t2iCorrect(scene('white', ['square', 'blue', 'small', 4], ['circle', 'red', 'large', 0]), want)).toBe(true);
    expect(t2iCorrect(scene('black', ['circle', 'red', 'large', 0], ['square', 'blue', 'small', 4]), want)).toBe(false);
    expect(t2iCorrect(scene('white', ['circle', 'red', 'small', 0], ['square', 'blue', 'small', 4]), want)).toBe(false);
    expect(t2iCorrect(scene('white', ['circle', 'red', 'large', 0], ['square', 'blue', 'small', 4], ['cross', 'red', 'small', 8]), want)).toBe(false);
  });

  it('edits: requested changes applied, everything else preserved', () => {
    const source = scene('white', ['circle', 'red', 'large', 4]);
    const target = scene('black', ['circle', 'blue', 'large', 3]);
    const edit = item(source, target, [
      [0, 'color'],
      [0, 'position'],
      [null, 'background'],
    ]);
    expect(editScore(scene('black', ['circle', 'blue', 'large', 3]), edit)).toEqual({ applied: true, preserved: true, failures: [] });
    expect(editScore(scene('black', ['circle', 'red', 'large', 3]), edit)).toMatchObject({ applied: false, preserved: true, failures: ['requested color'] });
    expect(editScore(scene('black', ['circle', 'blue', 'small', 3]), edit)).toMatchObject({ applied: true, preserved: false, failures: ['kept size'] });
    expect(editScore(scene('black', ['circle', 'blue', 'large', 3], ['square', 'red', 'small', 0]), edit)).toMatchObject({ applied: true, preserved: false, failures: ['extra shape'] });
    // nothing where the object should be: every attribute of it fails
    expect(editScore(scene('white', ['circle', 'blue', 'large', 4]), edit).failures).toEqual([
      'kept shape',
      'requested color',
      'kept size',
      'requested position',
      'requested background',
      'extra shape',
    ]);
  });
});

const judgeDir = defaultJudgeDir();
const evalDir = path.join(packageRoot(), 'models', 'tiny', 'eval');
const haveJudge = existsSync(path.join(judgeDir, 'model.onnx')) && existsSync(path.join(evalDir, 'edit.json'));
if (!haveJudge) process.stdout.write(`skipped: judge tests need ${judgeDir}/model.onnx (built by the zoo: models/zoo)\n`);

describe.skipIf(!haveJudge)('the zoo judge through the engine', () => {
  it('reads the rendered held-out source scenes correctly', async () => {
    const items = readEditSet(path.join(evalDir, 'edit.json')).items.slice(0, 120);
    const judge = await Judge.load();
    try {
      const images = await Promise.all(items.map((it) => decodeImage(readFileSync(path.join(evalDir, it.source)), { name: it.source })));
      const judged = await judge.judge(images);
      const correct = judged.filter((j, i) => t2iCorrect(j.scene, items[i]!.source_scene)).length;
      expect(correct / items.length).toBeGreaterThanOrEqual(0.98);
      // probabilities are distributions
      const bg = Object.values(judged[0]!.background).reduce((a, b) => a + b, 0);
      expect(bg).toBeCloseTo(1, 4);
    } finally {
      await judge.release();
    }
  });
});
