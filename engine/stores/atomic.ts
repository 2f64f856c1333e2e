/**
 * Atomic file writes: the one mechanism every write that must not tear uses (outputs, history,
 * libraries, keys, the graph and adapter caches' entries). Data goes to a temporary file in the
 * same folder, is flushed to disk, then renamed over the target, so a crash leaves either the old
 * file or the new one, never a torn one; a failed write removes its temporary file.
 * `writeFileAtomicSync` is the same for the synchronous cache builders.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, promises as fs, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';

function tempFor(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
}

export async function writeFileAtomic(file: string, data: Uint8Array | string): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  // a symbolic link is written through (the link stays), and an existing file keeps its permissions
  const target = await fs.realpath(file).catch(() => file);
  const mode = await fs.stat(target).then((s) => s.mode & 0o7777, () => null);
  const dir = path.dirname(target);
  const temp = tempFor(target);
  try {
    const handle = await fs.open(temp, 'w');
    try {
      await handle.writeFile(data);
      if (mode !== null) await handle.chmod(mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, target);
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
  await syncDirectory(dir);
}

/** `writeFileAtomic` for synchronous callers (the folder must exist; no directory sync). */
export function writeFileAtomicSync(file: string, data: Uint8Array | string): void {
  const temp = tempFor(file);
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  try {
    const fd = openSync(temp, 'w');
    try {
      for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, Math.min(1 << 30, bytes.length - done));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, file);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}

export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(value, null, 2)}\n`);
}

/**
 * Makes the rename durable where the file system allows it: skipped on Windows, and a folder that
 * cannot be opened or synced (some network and FUSE mounts) does not fail a write that is done.
 */
async function syncDirectory(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  try {
    const handle = await fs.open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // the data and the rename are done; only their durability across a power cut is not confirmed
  }
}
