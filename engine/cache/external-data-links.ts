/**
 * Hard links from a cached graph's folder to the external data files it shares with its source
 * model (the graph cache and the adapter cache both keep a rewritten model.onnx beside links to
 * the unchanged weights, instead of copying gigabytes).
 */
import { existsSync, linkSync, mkdirSync, statSync, unlinkSync } from 'node:fs';
import path from 'node:path';

/** Whether two paths are the same file (same inode on the same device). */
export function sameFile(a: string, b: string): boolean {
  try {
    const sa = statSync(a);
    const sb = statSync(b);
    return sa.ino === sb.ino && sa.dev === sb.dev;
  } catch {
    return false;
  }
}

/** Hard-links each external data file of `sourceDir` into `targetDir`; false when a link cannot be made. */
export function linkData(sourceDir: string, targetDir: string, locations: string[]): boolean {
  for (const location of locations) {
    const from = path.resolve(sourceDir, location);
    const to = path.resolve(targetDir, location);
    if (sameFile(from, to)) continue;
    try {
      mkdirSync(path.dirname(to), { recursive: true });
      if (existsSync(to)) unlinkSync(to);
      linkSync(from, to);
    } catch {
      return false;
    }
  }
  return true;
}
