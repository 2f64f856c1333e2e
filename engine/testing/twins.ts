/**
 * The layout twins (models/twins: random-weight models with the real exports' exact layouts and
 * graph I/O) for tests: their folders, temp copies (the BFL twin with the companion tokenizers its
 * README names, since BFL ships none), and mutated copies of their graphs (onnx-buf) for
 * bad-folder tests.
 */
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
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
 * A temp copy of a twin (named `as`, default the twin's name). `withTokenizers` adds the BFL twin's
 * companion tokenizers (../flux-optimum/tokenizer{,_2}, per its twin.json).
 */
export function copyTwin(name: TwinName, options: { as?: string; withTokenizers?: boolean } = {}): string {
  const dir = path.join(tempDir('atelier-twin-'), options.as ?? name);
  cpSync(twinDir(name), dir, { recursive: true });
  if (options.withTokenizers) {
    cpSync(path.join(twinDir('flux-optimum'), 'tokenizer'), path.join(dir, 'tokenizer'), { recursive: true });
    cpSync(path.join(twinDir('flux-optimum'), 'tokenizer_2'), path.join(dir, 'tokenizer_2'), { recursive: true });
  }
  return dir;
}

/** Rewrites one graph of a folder in place. */
export function mutateGraph(file: string, change: (model: ModelProto) => void): void {
  const model = parseModel(new Uint8Array(readFileSync(file)), file);
  change(model);
  writeFileSync(file, serializeModel(model));
}

/** A twin's descriptor (the BFL twin from a copy with tokenizers). */
export function twinDescriptor(name: TwinName): ModelDescriptor {
  return describeModelFolder(name === 'flux-bfl' ? copyTwin(name, { withTokenizers: true }) : twinDir(name));
}
