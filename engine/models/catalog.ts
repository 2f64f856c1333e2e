/**
 * The model catalog: which model folders the engine knows (the embedded tiny default, the
 * user's models folder, folders given on the command line) and what each one is.
 *
 * A root is either a model folder or a folder of model folders. Folders that are not models are
 * skipped when scanning a folder of models, and reported when named directly; a model folder
 * that is broken is reported (with what is wrong) either way.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { EngineError } from '../errors.js';
import type { ModelDescriptor } from './descriptor.js';
import { describeModelFolder, looksLikeModelFolder } from './detect.js';

export type ModelEntry = ModelDescriptor;

export interface ModelRoot {
  dir: string;
  /** Models under an embedded root ship with the app. */
  embedded?: boolean;
  /** A root the user named explicitly: errors are reported instead of skipped. */
  explicit?: boolean;
}

export class ModelCatalog {
  /**
   * `moreRoots` is read on every listing (the imported models, which change while the engine
   * runs); its errors are warnings, so a broken list never hides the other models.
   */
  constructor(
    private readonly roots: ModelRoot[],
    private readonly moreRoots: () => ModelRoot[] = () => [],
  ) {}

  /** Every usable model found under the roots; ids are made unique by suffixing. */
  list(warn: (message: string) => void = () => {}): ModelEntry[] {
    const found: ModelEntry[] = [];
    let more: ModelRoot[] = [];
    try {
      more = this.moreRoots();
    } catch (error) {
      warn(error instanceof Error ? error.message : String(error));
    }
    const known = new Set(this.roots.map((r) => path.resolve(r.dir)));
    for (const root of [...this.roots, ...more.filter((r) => !known.has(path.resolve(r.dir)))]) {
      if (!existsSync(root.dir)) {
        if (root.explicit) warn(`model folder not found: ${root.dir}`);
        continue;
      }
      const dirs = looksLikeModelFolder(root.dir) ? [root.dir] : subfolders(root.dir).filter(looksLikeModelFolder);
      if (root.explicit && dirs.length === 0) warn(`${root.dir}: no model folder here or in its subfolders`);
      for (const dir of dirs) {
        if (found.some((e) => path.resolve(e.dir) === path.resolve(dir))) continue; // imported and also under a root
        try {
          found.push(describeModelFolder(dir, root.embedded ?? false));
        } catch (error) {
          warn(error instanceof Error ? error.message : String(error));
        }
      }
    }
    const seen = new Map<string, number>();
    for (const entry of found) {
      const n = seen.get(entry.info.id) ?? 0;
      seen.set(entry.info.id, n + 1);
      if (n > 0) entry.info = { ...entry.info, id: `${entry.info.id}-${n + 1}` };
    }
    return found;
  }

  find(modelId: string): ModelEntry {
    const entry = this.list().find((e) => e.info.id === modelId);
    if (!entry) throw new EngineError('not_found', `no model with id "${modelId}"`);
    if (!existsSync(entry.dir)) throw new EngineError('model_error', `${entry.dir}: model folder not found`);
    return entry;
  }
}

function subfolders(dir: string): string[] {
  try {
    return readdirSync(dir)
      .map((name) => path.join(dir, name))
      .filter((p) => {
        try {
          return statSync(p).isDirectory();
        } catch {
          return false;
        }
      });
  } catch {
    return [];
  }
}
