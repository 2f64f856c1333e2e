/**
 * The layout twins (models/twins: random-weight models with the real exports' exact layouts and
 * graph I/O) for tests: their folders, temp copies (the BFL twin with the companion tokenizers its
 * README names, since BFL ships none), and mutated copies of their graphs (onnx-buf) for
 * bad-folder tests.
 */
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describeModelFolder } from '../models/detect.js';
import type { ModelDescriptor } from '../models/descriptor.js';
import { parseModel, serializeModel, type ModelProto } from '../onnx/proto.js';
import { packageRoot } from '../paths.js';
import { tempDir } from './models.js';

export const TWINS = ['sd15-diffusers', 'sd15-optimum-fp16', 'sdxl-optimum', 'flux-optimum', 'flux-bfl'] as const;
export type TwinName = (typeof TWINS)[number];

export function twinDir(name: TwinName): string {
  return path.join(packageRoot(), 'models', 'twins', name);
}

/**
 * A temp copy of a twin (named `as`, default the twin's name). `withoutTokenizers` removes the
 * tokenizer folders, e.g. to get the BFL twin as Black Forest Labs publish it (they ship none; the
 * twin carries them as a user's folder would after copying them in).
 */
export function copyTwin(name: TwinName, options: { as?: string; withoutTokenizers?: boolean } = {}): string {
  const dir = path.join(tempDir('atelier-twin-'), options.as ?? name);
  cpSync(twinDir(name), dir, { recursive: true });
  if (options.withoutTokenizers) {
    rmSync(path.join(dir, 'tokenizer'), { recursive: true, force: true });
    rmSync(path.join(dir, 'tokenizer_2'), { recursive: true, force: true });
  }
  return dir;
}

/** Rewrites one graph of a folder in place. */
export function mutateGraph(file: string, change: (model: ModelProto) => void): void {
  const model = parseModel(new Uint8Array(readFileSync(file)), file);
  change(model);
  writeFileSync(file, serializeModel(model));
}

/** A twin's descriptor. */
export function twinDescriptor(name: TwinName): ModelDescriptor {
  return describeModelFolder(twinDir(name));
}
