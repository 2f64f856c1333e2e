/**
 * The shapes world's scenes and the zoo's held-out evaluation sets (models/tiny/eval/*.json,
 * format atelier-eval/1), read with schemas so a damaged file is named and explained.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { EngineError } from '../errors.js';

export const SceneObject = z.object({
  shape: z.string(),
  color: z.string(),
  size: z.string(),
  cell: z.number().int().min(0).max(8),
});
export type SceneObject = z.infer<typeof SceneObject>;

export const Scene = z.object({ background: z.string(), objects: z.array(SceneObject) });
export type Scene = z.infer<typeof Scene>;

const T2iItem = z.object({ id: z.string(), prompt: z.string(), seed: z.number().int(), n_objects: z.number().int(), scene: Scene });
export type T2iItem = z.infer<typeof T2iItem>;

const EditPart = z.object({ kind: z.string(), object: z.number().int().nullable(), value: z.union([z.string(), z.number()]).nullable().optional(), text: z.string() });
const EditItem = z.object({
  id: z.string(),
  source: z.string(),
  instruction: z.string(),
  parts: z.array(EditPart),
  n_parts: z.number().int(),
  seed: z.number().int(),
  source_scene: Scene,
  target_scene: Scene,
  requested: z.array(z.object({ object: z.number().int().nullable(), attribute: z.string() })),
});
export type EditItem = z.infer<typeof EditItem>;

const EvalSet = <T extends z.ZodTypeAny>(kind: string, item: T) =>
  z.object({ format: z.literal('atelier-eval/1'), kind: z.literal(kind), image_size: z.number().int(), items: z.array(item) });

function readSet<T extends z.ZodTypeAny>(file: string, schema: T): z.infer<T> {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new EngineError('bad_input', `${file}: cannot read the evaluation set (${error instanceof Error ? error.message : String(error)})`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new EngineError('bad_input', `${file}: ${issue.path.join('.')}: ${issue.message}`);
  }
  return parsed.data;
}

export function readT2iSet(file: string): { image_size: number; items: T2iItem[] } {
  return readSet(file, EvalSet('t2i', T2iItem));
}

export function readEditSet(file: string): { image_size: number; items: EditItem[] } {
  return readSet(file, EvalSet('edit', EditItem));
}
