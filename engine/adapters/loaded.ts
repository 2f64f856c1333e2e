/**
 * An adapter file opened for use: its normalized model (formats/read.ts) and a content id (the
 * SHA-256 of the file's bytes, hashed in chunks), which names it in cache keys and in the
 * protocol, so the same file under two paths is one adapter and an edited file is a new one.
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { EngineError, messageOf } from '../errors.js';
import { readAdapter } from './formats/read.js';
import type { Adapter } from './model.js';
import { SafetensorsReader } from './safetensors.js';

export interface LoadedAdapter {
  /** The first 16 hex digits of the file's SHA-256. */
  id: string;
  sha256: string;
  file: string;
  name: string;
  bytes: number;
  adapter: Adapter;
}

async function sha256File(file: string): Promise<{ sha256: string; bytes: number }> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    throw new EngineError('not_found', `${file}: cannot open (${messageOf(error)})`);
  }
  try {
    const hash = createHash('sha256');
    const buffer = new Uint8Array(1 << 22);
    let bytes = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, bytes);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      bytes += bytesRead;
    }
    return { sha256: hash.digest('hex'), bytes };
  } finally {
    await handle.close();
  }
}

export async function loadAdapterFile(file: string): Promise<LoadedAdapter> {
  const { sha256, bytes } = await sha256File(file);
  const adapter = await withReader(file, readAdapter);
  if (adapter.targets.length === 0 && adapter.unused.length === 0) throw new EngineError('bad_input', `${file}: holds no tensors`);
  if (adapter.targets.length === 0) {
    const reasons = [...new Set(adapter.unused.map((u) => u.reason))].slice(0, 3).join('; ');
    throw new EngineError('bad_input', `${file}: not an adapter Atelier can use (${reasons})`);
  }
  return { id: sha256.slice(0, 16), sha256, file, name: path.basename(file), bytes, adapter };
}

/** Runs `fn` with the file open, closing it afterwards. */
export async function withReader<T>(file: string, fn: (reader: SafetensorsReader) => Promise<T>): Promise<T> {
  const reader = await SafetensorsReader.openFile(file);
  try {
    return await fn(reader);
  } finally {
    await reader.close();
  }
}
