/**
 * `eval base`: the embedded tiny model's text-to-image and instruction-edit quality, re-measured
 * through the TypeScript engine (the real job path: tokenizers, ONNX graphs, scheduler, Philox
 * noise, PNG output) on the zoo's held-out sets, judged by the zoo's judge, and compared with
 * what the zoo builder measured in PyTorch (models/tiny/report.json).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Engine } from '../engine.js';
import { decodeImage } from '../images/codec.js';
import { embeddedModelDir, packageRoot } from '../paths.js';
import type { Figures } from '../bench/report.js';
import { Judge } from './judge.js';
import { readEditSet, readT2iSet } from './scenes.js';
import { editScore, t2iCorrect } from './scoring.js';

export interface BaseEvalOptions {
  modelDir?: string;
  /** Items per set (default: all). */
  limit?: number;
  progress?: (line: string) => void;
}

function mean(values: boolean[]): number {
  return values.length === 0 ? 0 : values.filter(Boolean).length / values.length;
}

function reference(): Record<string, unknown> {
  const file = path.join(packageRoot(), 'models', 'tiny', 'report.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
}

export async function evalBase(options: BaseEvalOptions = {}): Promise<Figures> {
  const modelDir = options.modelDir ?? embeddedModelDir();
  const evalDir = path.join(packageRoot(), 'models', 'tiny', 'eval');
  const t2i = readT2iSet(path.join(evalDir, 't2i.json')).items.slice(0, options.limit);
  const edits = readEditSet(path.join(evalDir, 'edit.json')).items.slice(0, options.limit);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'atelier-eval-'));
  const engine = new Engine({
    dataDir,
    modelRoots: [{ dir: modelDir, embedded: true, explicit: true }],
    previewEvery: 0,
  });
  const judge = await Judge.load();
  const started = performance.now();
  try {
    const model = engine.listModels()[0];
    if (!model) throw new Error(`${modelDir}: no usable model there`);
    await engine.loadModel(model.id, 'cpu');
    const t2iOk: boolean[] = [];
    for (const [i, item] of t2i.entries()) {
      const done = await engine.runJob({ kind: 'generate', prompt: item.prompt, seed: item.seed });
      const [judged] = await judge.judge([await decodeImage(done.image.bytes, { name: item.id })]);
      t2iOk.push(t2iCorrect(judged!.scene, item.scene));
      if ((i + 1) % 50 === 0) options.progress?.(`t2i ${i + 1}/${t2i.length}: ${mean(t2iOk).toFixed(3)}`);
    }
    const applied: boolean[] = [];
    const preserved: boolean[] = [];
    for (const [i, item] of edits.entries()) {
      const source = readFileSync(path.join(evalDir, item.source));
      const done = await engine.runJob({ kind: 'edit', image: source, instruction: item.instruction, seed: item.seed });
      const [judged] = await judge.judge([await decodeImage(done.image.bytes, { name: item.id })]);
      const score = editScore(judged!.scene, item);
      applied.push(score.applied);
      preserved.push(score.preserved);
      if ((i + 1) % 50 === 0) options.progress?.(`edit ${i + 1}/${edits.length}: applied ${mean(applied).toFixed(3)} preserved ${mean(preserved).toFixed(3)}`);
    }
    const ref = reference();
    const refNumber = (key: string) => (typeof ref[key] === 'number' ? (ref[key] as number) : null);
    const figures: Figures = {
      suite: 'base',
      model: model.name,
      steps: model.defaults.steps,
      guidance: model.defaults.guidance,
      t2i_all_correct: mean(t2iOk),
      t2i_n: t2iOk.length,
      edit_applied: mean(applied),
      edit_preserved: mean(preserved),
      edit_n: applied.length,
      reference_t2i_all_correct: refNumber('t2i_all_correct'),
      reference_edit_applied: refNumber('edit_applied'),
      reference_edit_preserved: refNumber('edit_preserved'),
      seconds: (performance.now() - started) / 1000,
    };
    for (const key of ['t2i_all_correct', 'edit_applied', 'edit_preserved']) {
      const r = refNumber(key);
      figures[`delta_${key}`] = r === null ? null : (figures[key] as number) - r;
    }
    return figures;
  } finally {
    await judge.release();
    await engine.shutdown();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
