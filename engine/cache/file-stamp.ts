/**
 * A file's stamp: its path, size and modification time in one string, the key under which the
 * in-memory caches (cache/lru.ts) keep what they derived from the file, so a file rewritten in
 * place is read again.
 */
import { statSync } from 'node:fs';

export function fileStamp(file: string): string {
  const stat = statSync(file);
  return `${file}\0${stat.size}\0${stat.mtimeMs}`;
}
