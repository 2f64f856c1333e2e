/**
 * Reading JSON object files (model configs and manifests, tokenizer configs, SliderEdit manifests):
 * the one reader, whose errors are EngineError('model_error') naming the file and what is wrong.
 * Files checked against a schema (watermark keys, settings) use methods/watermark/assets.ts's
 * zod reader, which builds on the same rules.
 */
import { readFileSync } from 'node:fs';
import { EngineError, messageOf } from '../errors.js';

/** A parsed JSON object. */
export type JsonObject = Record<string, unknown>;

/** The object in `file`, or null when the file does not exist; `what` names the file's role in errors. */
export function readOptionalJsonObject(file: string, what = 'JSON file'): JsonObject | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new EngineError('model_error', `${file}: cannot read this ${what} (${messageOf(error)})`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new EngineError('model_error', `${file}: this ${what} is not valid JSON (${messageOf(error)})`);
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new EngineError('model_error', `${file}: this ${what} must hold a JSON object`);
  return value as JsonObject;
}

/** The object in `file`; a missing file is an error too. */
export function readJsonObject(file: string, what = 'JSON file'): JsonObject {
  const value = readOptionalJsonObject(file, what);
  if (value === null) throw new EngineError('model_error', `${file}: ${what} not found`);
  return value;
}
