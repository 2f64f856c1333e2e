/**
 * Imported models: folders anywhere on disk that the user added through "Import model" (UI) or
 * `atelier models import DIR` (CLI). A folder is validated exactly as `models validate` does and,
 * only when usable, its absolute path is recorded in `<data>/imported-models.json` (an atomic
 * write, so a crash never loses the list). Edits are serialized (each reads the list after the
 * previous one wrote it), so two overlapping imports or forgets never drop a folder. The files stay
 * where they are: models are tens of GB, and copying them would double the disk they take.
 * Forgetting a model only edits the list.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { EngineError } from '../errors.js';
import { writeJsonAtomic } from '../stores/atomic.js';
import type { LayoutReport } from './descriptor.js';
import { inspectModelFolder } from './detect.js';

const ImportedFile = z.object({ version: z.literal(1), folders: z.array(z.string().min(1).max(4096)).max(1000) }).strict();

export class ImportedModels {
  readonly file: string;
  /** The last list edit; the next one starts after it (read-modify-write must not interleave). */
  private edits: Promise<unknown> = Promise.resolve();

  constructor(dataDir: string) {
    this.file = path.join(dataDir, 'imported-models.json');
  }

  /** The recorded folders; a missing list is empty, a corrupt one is an error naming the file. */
  folders(): string[] {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new EngineError('model_error', `${this.file}: cannot read the imported models list: ${(error as Error).message}`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new EngineError('model_error', `${this.file}: the imported models list is not valid JSON; fix or delete it`);
    }
    const result = ImportedFile.safeParse(parsed);
    if (!result.success) throw new EngineError('model_error', `${this.file}: the imported models list is malformed (${result.error.issues[0]?.message ?? 'invalid'}); fix or delete it`);
    return result.data.folders;
  }

  /** Whether `dir` is on the list. */
  has(dir: string): boolean {
    return this.folders().includes(path.resolve(dir));
  }

  private edit<T>(change: () => Promise<T>): Promise<T> {
    const result = this.edits.then(change, change);
    this.edits = result.catch(() => undefined);
    return result;
  }

  /**
   * Validates `dir` and records it when usable. Returns the validation report either way, so the
   * caller can show what was found and, for a bad folder, exactly what is missing or mismatched.
   */
  async import(dir: string): Promise<LayoutReport & { dir: string }> {
    const absolute = path.resolve(dir);
    const report = inspectModelFolder(absolute);
    if (report.descriptor) {
      await this.edit(async () => {
        const folders = this.folders();
        if (!folders.includes(absolute)) await writeJsonAtomic(this.file, { version: 1, folders: [...folders, absolute] });
      });
    }
    return { ...report, dir: absolute };
  }

  /** Removes `dir` from the list (the folder itself is untouched); false when it was not listed. */
  forget(dir: string): Promise<boolean> {
    const absolute = path.resolve(dir);
    return this.edit(async () => {
      const folders = this.folders();
      if (!folders.includes(absolute)) return false;
      await writeJsonAtomic(this.file, { version: 1, folders: folders.filter((f) => f !== absolute) });
      return true;
    });
  }
}
