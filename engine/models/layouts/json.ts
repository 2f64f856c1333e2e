/** Reading the JSON config files of model folders, with errors that name the file. */
import { existsSync, readFileSync } from 'node:fs';

export type JsonObject = Record<string, unknown>;

/** The object in `file`, null when the file does not exist; throws on invalid JSON. */
export function readJsonFile(file: string): JsonObject | null {
  if (!existsSync(file)) return null;
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`${file}: not valid JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error(`${file}: expected a JSON object`);
  return value as JsonObject;
}

export function numberAt(json: JsonObject | null, key: string): number | undefined {
  const v = json?.[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

export function stringAt(json: JsonObject | null, key: string): string | undefined {
  const v = json?.[key];
  return typeof v === 'string' ? v : undefined;
}
