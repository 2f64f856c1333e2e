/**
 * The history of outputs: each finished job is a PNG plus a JSON sidecar with its metadata in
 * the outputs folder, both written atomically, so the history strip survives restarts and a
 * crash never leaves a half-written entry (an unreadable sidecar is skipped and reported). A
 * superseded slider render is removed sidecar first, so a crash leaves at most an unlisted image.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { EngineError } from '../errors.js';
import { JobMetadata, type HistoryEntry } from '../protocol/index.js';
import { writeFileAtomic, writeJsonAtomic } from './atomic.js';

const JOB_ID = /^job-[0-9a-f-]{36}$/;

export class HistoryStore {
  constructor(readonly dir: string) {}

  private fileFor(jobId: string, ext: 'png' | 'json'): string {
    if (!JOB_ID.test(jobId)) throw new EngineError('not_found', `no output for job "${jobId}"`);
    return path.join(this.dir, `${jobId}.${ext}`);
  }

  /** Saves the image first, then the sidecar: an entry is listed only once both exist. */
  async save(jobId: string, png: Uint8Array, metadata: JobMetadata): Promise<HistoryEntry> {
    const file = this.fileFor(jobId, 'png');
    await writeFileAtomic(file, png);
    await writeJsonAtomic(this.fileFor(jobId, 'json'), metadata);
    return { jobId, file, metadata };
  }

  async list(limit = 200, warn: (message: string) => void = () => {}): Promise<HistoryEntry[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.dir);
    } catch {
      return [];
    }
    const entries: HistoryEntry[] = [];
    for (const name of names) {
      if (!name.endsWith('.json') || !JOB_ID.test(name.slice(0, -5))) continue;
      const jobId = name.slice(0, -5);
      try {
        const metadata = JobMetadata.parse(JSON.parse(await fs.readFile(path.join(this.dir, name), 'utf8')));
        entries.push({ jobId, file: this.fileFor(jobId, 'png'), metadata });
      } catch (error) {
        warn(`history: skipped ${name}: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
      }
    }
    entries.sort((a, b) => b.metadata.createdAt.localeCompare(a.metadata.createdAt));
    return entries.slice(0, limit);
  }

  /** An output's metadata, or null when there is no such output. */
  async readMetadata(jobId: string): Promise<JobMetadata | null> {
    let text: string;
    try {
      text = await fs.readFile(this.fileFor(jobId, 'json'), 'utf8');
    } catch {
      return null;
    }
    try {
      return JobMetadata.parse(JSON.parse(text));
    } catch {
      return null;
    }
  }

  /** Removes an output: the sidecar first (so it is no longer listed), then the image. */
  async remove(jobId: string): Promise<boolean> {
    try {
      await fs.rm(this.fileFor(jobId, 'json'));
    } catch (error) {
      if (error instanceof EngineError) throw error;
      return false;
    }
    await fs.rm(this.fileFor(jobId, 'png'), { force: true });
    return true;
  }

  async readImage(jobId: string): Promise<Uint8Array> {
    try {
      return await fs.readFile(this.fileFor(jobId, 'png'));
    } catch (error) {
      if (error instanceof EngineError) throw error;
      throw new EngineError('not_found', `no output image for job "${jobId}"`);
    }
  }
}
