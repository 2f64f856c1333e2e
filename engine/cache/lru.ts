/**
 * A small least-recently-used map: the one in-memory cache mechanism of the engine (text
 * encodings per prompt, encoded context images, built tokenizers, graph module indexes, the
 * watermark trainer's clean decodes), usually keyed by a file stamp (cache/file-stamp.ts).
 * Bounded by entry count.
 */
export class LruCache<K, V> {
  private readonly map = new Map<K, V>();

  constructor(readonly capacity: number) {
    if (capacity < 1) throw new Error('LRU capacity must be at least 1');
  }

  get(key: K): V | undefined {
    const value = this.map.get(key);
    if (value === undefined) return undefined;
    this.map.delete(key);
    this.map.set(key, value);
    return value;
  }

  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    while (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value as K);
  }

  async getOrCreate(key: K, create: () => Promise<V>): Promise<V> {
    const hit = this.get(key);
    if (hit !== undefined) return hit;
    const value = await create();
    this.set(key, value);
    return value;
  }

  clear(): void {
    this.map.clear();
  }

  get size(): number {
    return this.map.size;
  }
}
