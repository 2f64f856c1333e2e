/**
 * The zoo's attribute judge (models/tiny/judge): a small ONNX classifier that reads a shapes-world
 * image as a scene (background, and per 3x3 grid cell a shape or nothing, its color and size), with
 * the class probabilities kept so evaluations can measure change continuously.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { EngineError } from '../errors.js';
import { resizeImage } from '../images/codec.js';
import type { RgbImage } from '../images/rgb.js';
import { packageRoot } from '../paths.js';
import { ort } from '../runtime/ort.js';
import { openSession, type ModelSession } from '../runtime/session.js';
import { float32Of, outputOf } from '../runtime/tensors.js';
import type { Scene } from './scenes.js';

const Labels = z.object({
  format: z.literal('atelier-judge/1'),
  input: z.object({ name: z.string(), shape: z.tuple([z.string(), z.literal(3), z.number().int(), z.number().int()]) }),
  outputs: z.array(z.object({ name: z.string(), classes: z.array(z.string()) })),
  cells: z.array(z.string()).length(9),
});
type Labels = z.infer<typeof Labels>;

export interface CellJudgement {
  cell: number;
  cellName: string;
  /** Probabilities over the shape classes (the first is "empty"), colors and sizes. */
  shape: Record<string, number>;
  color: Record<string, number>;
  size: Record<string, number>;
}

export interface Judgement {
  /** The decoded scene: argmax of every output, cells whose argmax is not "empty". */
  scene: Scene;
  background: Record<string, number>;
  cells: CellJudgement[];
}

export function defaultJudgeDir(): string {
  return path.join(packageRoot(), 'models', 'tiny', 'judge');
}

function argmax(probs: Record<string, number>): string {
  let best = '';
  let bestP = -Infinity;
  for (const [k, p] of Object.entries(probs)) {
    if (p > bestP) {
      best = k;
      bestP = p;
    }
  }
  return best;
}

export class Judge {
  private constructor(
    private readonly session: ModelSession,
    private readonly labels: Labels,
  ) {}

  static async load(dir = defaultJudgeDir()): Promise<Judge> {
    const file = path.join(dir, 'labels.json');
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(file, 'utf8'));
    } catch {
      throw new EngineError('model_error', `${file}: judge labels not found or not JSON (build the zoo's judge: see models/zoo/README.md)`);
    }
    const labels = Labels.safeParse(raw);
    if (!labels.success) throw new EngineError('model_error', `${file}: not a judge labels file (${labels.error.issues[0]?.message})`);
    const session = await openSession(path.join(dir, 'model.onnx'), { provider: 'cpu' });
    return new Judge(session, labels.data);
  }

  get imageSize(): [number, number] {
    const [, , h, w] = this.labels.input.shape;
    return [w, h];
  }

  private classes(name: string): string[] {
    const output = this.labels.outputs.find((o) => o.name === name);
    if (!output) throw new EngineError('model_error', `judge labels name no output "${name}"`);
    return output.classes;
  }

  /** Judges images of any size (resized to the judge's input first). */
  async judge(images: RgbImage[]): Promise<Judgement[]> {
    const [w, h] = this.imageSize;
    const plane = w * h;
    const batch = new Float32Array(images.length * 3 * plane);
    for (let b = 0; b < images.length; b++) {
      const img = await resizeImage(images[b]!, w, h, 'fill');
      for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) batch[b * 3 * plane + c * plane + i] = img.data[i * 3 + c]! / 255;
    }
    const out = await this.session.run({ [this.labels.input.name]: new ort.Tensor('float32', batch, [images.length, 3, h, w]) });
    const read = (name: string) => float32Of(outputOf(out, name, this.session.file), name);
    const bg = read('background');
    const shape = read('shape');
    const color = read('color');
    const size = read('size');
    const [bgC, shapeC, colorC, sizeC] = ['background', 'shape', 'color', 'size'].map((n) => this.classes(n)) as [string[], string[], string[], string[]];
    const dict = (classes: string[], data: Float32Array, offset: number) => Object.fromEntries(classes.map((c, i) => [c, data[offset + i]!]));
    return images.map((_, b) => {
      const cells: CellJudgement[] = [];
      for (let cell = 0; cell < 9; cell++) {
        cells.push({
          cell,
          cellName: this.labels.cells[cell]!,
          shape: dict(shapeC, shape, (b * 9 + cell) * shapeC.length),
          color: dict(colorC, color, (b * 9 + cell) * colorC.length),
          size: dict(sizeC, size, (b * 9 + cell) * sizeC.length),
        });
      }
      const background = dict(bgC, bg, b * bgC.length);
      const objects = cells
        .filter((c) => argmax(c.shape) !== shapeC[0])
        .map((c) => ({ shape: argmax(c.shape), color: argmax(c.color), size: argmax(c.size), cell: c.cell }));
      return { scene: { background: argmax(background), objects }, background, cells };
    });
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
