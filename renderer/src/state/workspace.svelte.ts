/**
 * The open image and what the canvas shows when no job is running: the open image ("source"),
 * or an output chosen in the history strip, optionally its "before" (the before/after toggle).
 * The workspace owns the open image's object URL.
 */
import { imageUrl, revokeUrl } from '../lib/images.js';
import type { LoadedImage } from '../lib/open-image.js';

export interface SourceImage extends LoadedImage {
  url: string;
}

export type Showing = 'source' | 'output';

export class Workspace {
  source = $state.raw<SourceImage | null>(null);
  showing = $state<Showing>('source');
  /** Show the output's "before" instead of the output. */
  compare = $state(false);

  open(image: LoadedImage): void {
    revokeUrl(this.source?.url ?? null);
    this.source = { ...image, url: imageUrl(image.bytes, image.mime) };
    this.showing = 'source';
    this.compare = false;
  }

  showOutput(): void {
    this.showing = 'output';
    this.compare = false;
  }

  dispose(): void {
    revokeUrl(this.source?.url ?? null);
    this.source = null;
  }
}
