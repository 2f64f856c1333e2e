/**
 * The adapters panel's store: the adapter files added in this window (with what the engine said
 * of them: format, rank, coverage on the loaded model) and their on/off, weight and mode. Every
 * change sends the whole list to the engine (`setAdapters`); the engine's `adaptersChanged`
 * (and `hello` after a reconnection) is the truth the list follows. A file that does not fully
 * match the model is added switched off, with its coverage shown; switching it on applies the
 * layers that match (`allowPartial`).
 *
 * One `setAdapters` is in flight at a time (a bake can take minutes): changes made meanwhile are
 * sent together when it returns, newest list wins, so arrow-key presses on a weight do not queue
 * one call each. A failure puts the list back to what the engine last reported (files it never
 * applied stay listed, switched off), never to a snapshot an overlapping change already replaced.
 */
import type { EngineClient } from '../engine/client.js';
import { messageOf } from '../engine/errors.js';
import type { ActiveAdapter, AdapterInfo, AdapterMode } from '../engine/protocol.js';

export interface AdapterItem {
  id: string;
  name: string;
  /** What inspectAdapter said; null for an adapter another window added. */
  info: AdapterInfo | null;
  enabled: boolean;
  weight: number;
  mode: AdapterMode;
}

export const WEIGHT_RANGE = { min: -2, max: 2, step: 0.05 } as const;

export class Adapters {
  items = $state<AdapterItem[]>([]);
  busy = $state(false);
  /** The last failure (adding a file, applying the list), shown in the panel. */
  error = $state<string | null>(null);

  /** What inspectAdapter said of each file added in this window. */
  private readonly infos = new Map<string, AdapterInfo>();
  /** The engine's list as last reported. */
  private lastActive: readonly ActiveAdapter[] = [];
  private inFlight: Promise<void> | null = null;
  private sendAgain = false;

  constructor(private readonly client: EngineClient) {}

  /**
   * Follows the engine's list, keeping what this window knows of each file. While this window's
   * own list is being sent, the engine's reports of the lists before it only update what a failure
   * would return to; the panel takes the engine's list when the sends are done.
   */
  fromEngine(active: readonly ActiveAdapter[]): void {
    this.lastActive = active.map((a) => ({ ...a }));
    if (this.inFlight) return;
    this.showList(active);
  }

  private showList(active: readonly ActiveAdapter[]): void {
    const listed = active.map((a) => ({ id: a.id, name: a.name, info: this.infos.get(a.id) ?? null, enabled: a.enabled, weight: a.weight, mode: a.mode }));
    // files added here but never applied (switched off on arrival) stay listed
    const kept = this.items.filter((i) => !active.some((a) => a.id === i.id) && !i.enabled);
    this.items = [...listed, ...kept];
  }

  async add(file: File): Promise<void> {
    this.error = null;
    this.busy = true;
    try {
      const bytes = new Uint8Array(await file.arrayBuffer());
      const info = await this.client.call('inspectAdapter', { name: file.name, bytes }, { timeoutMs: 120_000 });
      if (this.items.some((i) => i.id === info.id)) return;
      this.infos.set(info.id, info);
      const fits = info.coverage?.complete ?? false;
      this.items = [...this.items, { id: info.id, name: info.name, info, enabled: fits, weight: 1, mode: 'live' }];
      if (fits) await this.push();
    } catch (error) {
      this.error = `${file.name}: ${messageOf(error)}`;
    } finally {
      this.busy = false;
    }
  }

  /** Changes one adapter and applies the list; on failure the list goes back to the engine's. */
  update(id: string, change: Partial<Pick<AdapterItem, 'enabled' | 'weight' | 'mode'>>): Promise<void> {
    this.items = this.items.map((i) => (i.id === id ? { ...i, ...change } : i));
    return this.push();
  }

  remove(id: string): Promise<void> {
    this.items = this.items.filter((i) => i.id !== id);
    return this.push();
  }

  /** Sends the list; while a call is in flight, the newest list goes once it returns. */
  private push(): Promise<void> {
    if (this.inFlight) {
      this.sendAgain = true;
      return this.inFlight;
    }
    const sending = this.drain().finally(() => {
      this.inFlight = null;
      this.showList(this.lastActive);
    });
    this.inFlight = sending;
    return sending;
  }

  private async drain(): Promise<void> {
    do {
      this.sendAgain = false;
      this.error = null;
      const adapters = this.items
        .filter((i) => i.enabled || i.info === null)
        .map((i) => ({ id: i.id, enabled: i.enabled, weight: i.weight, mode: i.mode, ...(i.info?.coverage?.complete === false ? { allowPartial: true } : {}) }));
      try {
        await this.client.call('setAdapters', { adapters }, { timeoutMs: 600_000 });
      } catch (error) {
        this.error = messageOf(error);
        if (!this.sendAgain) this.rollBack();
      }
    } while (this.sendAgain);
  }

  /** Back to the engine's last list: files it does not have stay listed, switched off. */
  private rollBack(): void {
    const active = new Set(this.lastActive.map((a) => a.id));
    this.items = this.items.map((i) => (active.has(i.id) ? i : { ...i, enabled: false }));
    this.showList(this.lastActive);
  }
}
