/** Typed reads of fields in model folders' JSON config files (read by files/json-object.ts). */
import { readOptionalJsonObject, type JsonObject } from '../../files/json-object.js';

export type { JsonObject };

/** A model folder's config file, null when the file does not exist; invalid JSON is a model_error naming it. */
export function readJsonFile(file: string): JsonObject | null {
  return readOptionalJsonObject(file, 'config file');
}

export function numberAt(json: JsonObject | null, key: string): number | undefined {
  const v = json?.[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

export function stringAt(json: JsonObject | null, key: string): string | undefined {
  const v = json?.[key];
  return typeof v === 'string' ? v : undefined;
}
