/**
 * Which SliderEdit checkpoints go with a model. A job may name an STLoRA file itself; otherwise the
 * model folder says, in this order:
 * 1. `atelier.json` field `slideredit: { stlora, gstlora? }` (paths relative to the model folder);
 * 2. `slideredit/` inside the model folder (a real FLUX-Kontext folder a user put SliderEdit's
 *    released checkpoint into): `slideredit.json` naming them (`"stlora": "f.safetensors"` or
 *    `"stlora": {"file": "f.safetensors", ...}`, the same for `gstlora`), else
 *    `stlora.safetensors` / `gstlora.safetensors`;
 * 3. `slideredit/` beside the model folder, the same way (the zoo's models/tiny/slideredit/); the
 *    model's own folder comes first, since a sibling folder may hold another model's checkpoints;
 * 4. the zoo's adapter test set beside the model (`adapters/stlora.slideredit.safetensors`).
 * Files are read by engine/adapters (any key format; SliderEdit's own bare module names included).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { EngineError } from '../../errors.js';
import { readOptionalJsonObject } from '../../files/json-object.js';

export interface SliderEditCheckpoints {
  /** The per-token STLoRA (required). */
  stlora: string;
  /** The global-scale GSTLoRA, when there is one (the evaluation's baseline). */
  gstlora: string | null;
  /** Where they were found, for messages. */
  origin: string;
}

/** A file named by `key`: a string, or an object with a `file` string (the zoo's slideredit.json). */
function fileField(record: Record<string, unknown>, key: string, base: string, where: string): string | null {
  const field = record[key];
  if (field === undefined || field === null) return null;
  const value = typeof field === 'object' && !Array.isArray(field) ? (field as Record<string, unknown>).file : field;
  if (typeof value !== 'string' || !value) throw new EngineError('model_error', `${where}: "${key}" must be a file name or {"file": name}`);
  const file = path.resolve(base, value);
  if (!existsSync(file)) throw new EngineError('model_error', `${where}: "${key}" names ${file}, which does not exist`);
  return file;
}

function fromFolder(dir: string): SliderEditCheckpoints | null {
  const manifest = path.join(dir, 'slideredit.json');
  const json = readOptionalJsonObject(manifest, 'SliderEdit manifest');
  if (json) {
    const stlora = fileField(json, 'stlora', dir, manifest);
    if (stlora) return { stlora, gstlora: fileField(json, 'gstlora', dir, manifest), origin: manifest };
  }
  const stlora = path.join(dir, 'stlora.safetensors');
  if (!existsSync(stlora)) return null;
  const gstlora = path.join(dir, 'gstlora.safetensors');
  return { stlora, gstlora: existsSync(gstlora) ? gstlora : null, origin: dir };
}

/** The model's SliderEdit checkpoints, or null when it has none. */
export function findCheckpoints(modelDir: string): SliderEditCheckpoints | null {
  const atelier = path.join(modelDir, 'atelier.json');
  const section = readOptionalJsonObject(atelier, 'Atelier model settings file')?.slideredit;
  if (section !== undefined) {
    if (section === null || typeof section !== 'object' || Array.isArray(section)) throw new EngineError('model_error', `${atelier}: "slideredit" must be an object`);
    const record = section as Record<string, unknown>;
    const stlora = fileField(record, 'stlora', modelDir, `${atelier} slideredit`);
    if (stlora) return { stlora, gstlora: fileField(record, 'gstlora', modelDir, `${atelier} slideredit`), origin: atelier };
  }
  // the model's own folder first: a sibling slideredit/ may hold another model's checkpoints
  const found = fromFolder(path.join(modelDir, 'slideredit')) ?? fromFolder(path.join(modelDir, '..', 'slideredit'));
  if (found) return found;
  const zoo = path.join(modelDir, '..', 'adapters', 'stlora.slideredit.safetensors');
  return existsSync(zoo) ? { stlora: path.resolve(zoo), gstlora: null, origin: path.dirname(path.resolve(zoo)) } : null;
}

/** The STLoRA for a job: the file it names, else the model's; a clear error when there is none. */
export function stloraFor(modelDir: string, explicit?: string): string {
  if (explicit) {
    const file = path.resolve(explicit);
    if (!existsSync(file)) throw new EngineError('bad_input', `${file}: STLoRA file not found`);
    return file;
  }
  const found = findCheckpoints(modelDir);
  if (!found) {
    throw new EngineError(
      'invalid_params',
      `${modelDir} has no SliderEdit STLoRA (looked in its atelier.json "slideredit", ${path.join(modelDir, 'slideredit')} and ${path.join(modelDir, '..', 'slideredit')}); give one with the job`,
    );
  }
  return found.stlora;
}
