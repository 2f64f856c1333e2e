/**
 * The history strip's model: past outputs (from listHistory, newest first) and this session's
 * new results. Each item owns the object URL of its image, fetched with readHistoryImage when
 * the strip first needs it, and, for an edit made in this session, the URL of its source image
 * (the "before" of the before/after toggle).
 */
import type { EngineClient } from '../engine/client.js';
import { messageOf } from '../engine/errors.js';
import type { EncodedImage, HistoryEntry, JobMetadata } from '../engine/protocol.js';
import { imageUrl, releaseUrl, revokeUrl } from '../lib/images.js';

/** An image made in this session that an output was edited from; `url` is shared (lib/images.ts retainUrl), so each holder releases it. */
export interface BeforeImage {
  url: string;
  width: number;
  height: number;
}

export class HistoryItem {
  /** Object URL of the output image, null until loaded. */
  url = $state<string | null>(null);
  /** Why the image could not be loaded. */
  loadError = $state<string | null>(null);
  readonly width: number;
  readonly height: number;

  constructor(
    readonly jobId: string,
    readonly file: string,
    readonly metadata: JobMetadata,
    readonly before: BeforeImage | null = null,
    /** Made in this session (its bytes came with jobDone). */
    readonly local = false,
  ) {
    this.width = metadata.width;
    this.height = metadata.height;
  }

  dispose(): void {
    revokeUrl(this.url);
    this.url = null;
    releaseUrl(this.before?.url ?? null);
  }
}

/** How many images load at once when the strip fills from listHistory. */
const LOAD_CONCURRENCY = 3;

export class History {
  items = $state.raw<HistoryItem[]>([]);
  /** The item shown in the canvas, if any. */
  selectedId = $state<string | null>(null);
  private readonly loading = new Map<string, Promise<string | null>>();

  constructor(
    private readonly client: EngineClient,
    readonly maxItems = 100,
  ) {}

  find(jobId: string): HistoryItem | undefined {
    return this.items.find((item) => item.jobId === jobId);
  }

  /** Replaces the list with the engine's, keeping loaded images of items already here. */
  replace(entries: HistoryEntry[]): void {
    const known = new Map(this.items.map((item) => [item.jobId, item]));
    const next = entries.slice(0, this.maxItems).map((entry) => {
      const existing = known.get(entry.jobId);
      known.delete(entry.jobId);
      return existing ?? new HistoryItem(entry.jobId, entry.file, entry.metadata);
    });
    // Items made in this session that the engine's list does not have yet stay on top.
    const recent = [...known.values()].filter((item) => item.local);
    for (const item of known.values()) if (!item.local) item.dispose();
    const items = [...recent, ...next];
    for (const dropped of items.slice(this.maxItems)) dropped.dispose();
    this.items = items.slice(0, this.maxItems);
    if (this.selectedId !== null && !this.find(this.selectedId)) this.selectedId = null;
    void this.loadMissing();
  }

  /** Adds a new output (image bytes at hand) at the front; returns its item. */
  add(jobId: string, file: string, metadata: JobMetadata, image: EncodedImage, before: BeforeImage | null = null): HistoryItem {
    const existing = this.find(jobId);
    if (existing) {
      existing.url ??= imageUrl(image.bytes, image.mime);
      if (before) releaseUrl(before.url); // the item holds its own
      return existing;
    }
    const item = new HistoryItem(jobId, file, metadata, before, true);
    item.url = imageUrl(image.bytes, image.mime);
    const items = [item, ...this.items];
    for (const dropped of items.slice(this.maxItems)) dropped.dispose();
    this.items = items.slice(0, this.maxItems);
    return item;
  }

  /** The item's image URL, fetching it from the engine when needed; null when that fails. */
  ensureImage(item: HistoryItem): Promise<string | null> {
    if (item.url) return Promise.resolve(item.url);
    const running = this.loading.get(item.jobId);
    if (running) return running;
    const load = this.client
      .call('readHistoryImage', { jobId: item.jobId })
      .then((image) => {
        if (!this.items.includes(item)) return null; // dropped while loading
        item.url = imageUrl(image.bytes, image.mime);
        item.loadError = null;
        return item.url;
      })
      .catch((error: unknown) => {
        item.loadError = messageOf(error);
        return null;
      })
      .finally(() => this.loading.delete(item.jobId));
    this.loading.set(item.jobId, load);
    return load;
  }

  /** Drops an output the engine removed (a slider preview replaced by `successor`, selected instead if it was). */
  remove(jobId: string, successor: string | null = null): void {
    const item = this.find(jobId);
    if (!item) return;
    this.items = this.items.filter((i) => i !== item);
    if (this.selectedId === jobId) this.selectedId = successor;
    item.dispose();
  }

  dispose(): void {
    for (const item of this.items) item.dispose();
    this.items = [];
  }

  private async loadMissing(): Promise<void> {
    const queue = this.items.filter((item) => item.url === null && item.loadError === null);
    const worker = async (): Promise<void> => {
      for (let item = queue.shift(); item; item = queue.shift()) await this.ensureImage(item);
    };
    await Promise.all(Array.from({ length: LOAD_CONCURRENCY }, worker));
  }
}
