/**
 * The watermark panel's store: the owner's keys (create, with the new key's training shown step by
 * step and cancellable; import, rename, delete), the loaded model's
 * embedding switch and key, and verification of files (one engine call per file, so each file's
 * verdict shows as soon as it is known). The engine's `watermarkChanged` and
 * `watermarkKeysChanged` events (and `refresh` after a reconnection or a model change) are the
 * truth the panel follows.
 */
import type { EngineClient, Unsubscribe } from '../engine/client.js';
import { messageOf } from '../engine/errors.js';
import { MAX_MESSAGE_BYTES, type WatermarkKeyInfo, type WatermarkState, type WatermarkVerdict } from '../engine/protocol.js';

/** The false-positive rates the panel offers (the engine's default first). */
export const FPR_CHOICES = [1e-6, 1e-3, 1e-9] as const;

export interface VerifyItem {
  /** Unique per file checked in this window. */
  id: number;
  name: string;
  /** checking: sent, no verdict yet. */
  status: 'checking' | WatermarkVerdict['status'];
  verdict: WatermarkVerdict | null;
  /** Why the file could not be sent or the engine call failed (a verdict of status error says why otherwise). */
  error: string | null;
}

const MAX_FILE_BYTES = MAX_MESSAGE_BYTES - 64 * 1024;
/** A key's training runs minutes on a CPU; the reply waits this long. */
const CREATE_TIMEOUT_MS = 60 * 60_000;

/** The new key's training, as the engine reports it. */
export interface KeyTrainingState {
  name: string;
  step: number;
  total: number;
  bitAccuracy: number;
  psnrDb: number;
}

export class Watermark {
  keys = $state<WatermarkKeyInfo[]>([]);
  state = $state<WatermarkState | null>(null);
  /** A key is being created, or the switch is being applied. */
  busy = $state(false);
  /** The last failure of a key or switch action, shown in the panel. */
  error = $state<string | null>(null);
  fpr = $state<number>(FPR_CHOICES[0]);
  results = $state<VerifyItem[]>([]);
  /** The key being created: its training so far (null before the first step and when none is). */
  training = $state<KeyTrainingState | null>(null);
  /** A key is being created (generated, then trained). */
  creating = $state(false);
  private nextId = 1;

  constructor(private readonly client: EngineClient) {}

  /** Follows the engine's events; returns the unsubscribers. */
  listen(): Unsubscribe[] {
    return [
      this.client.on('watermarkChanged', (state) => this.fromState(state)),
      this.client.on('watermarkKeysChanged', (data) => this.fromKeys(data.keys)),
      this.client.on('watermarkKeyTraining', (data) => {
        if (this.creating) this.training = { ...data };
      }),
    ];
  }

  /** Fetches the keys and the loaded model's switch (after a (re)connection or a model change). */
  async refresh(): Promise<void> {
    try {
      const [{ keys }, state] = await Promise.all([this.client.call('watermarkKeys', {}), this.client.call('watermarkState', {})]);
      this.keys = keys;
      this.state = state;
    } catch (error) {
      this.error = `Could not read the watermark keys: ${messageOf(error)}`;
    }
  }

  fromKeys(keys: readonly WatermarkKeyInfo[]): void {
    this.keys = [...keys];
  }

  fromState(state: WatermarkState): void {
    this.state = state;
  }

  private async act(what: () => Promise<void>): Promise<boolean> {
    this.error = null;
    this.busy = true;
    try {
      await what();
      return true;
    } catch (error) {
      this.error = messageOf(error);
      return false;
    } finally {
      this.busy = false;
    }
  }

  /** Creates a key; the engine trains its LoRA (minutes) and reports each step. */
  create(name: string): Promise<boolean> {
    this.creating = true;
    this.training = null;
    return this.act(async () => {
      try {
        const key = await this.client.call('createWatermarkKey', { name }, { timeoutMs: CREATE_TIMEOUT_MS });
        if (!this.keys.some((k) => k.id === key.id)) this.keys = [...this.keys, key];
      } finally {
        this.creating = false;
        this.training = null;
      }
    });
  }

  /** Stops the key being trained (its create call then fails with code `cancelled`). */
  async cancelCreate(): Promise<void> {
    try {
      await this.client.call('cancelWatermarkKey', {});
    } catch (error) {
      this.error = `Could not cancel: ${messageOf(error)}`;
    }
  }

  /**
   * Imports a key trained elsewhere (the zoo's `zoo.watermark key`): the chosen files must be its
   * `.key.json` and its `.peft.safetensors` LoRA.
   */
  importKey(files: readonly File[]): Promise<boolean> {
    return this.act(async () => {
      const keyFile = files.find((f) => f.name.endsWith('.json'));
      const lora = files.find((f) => f.name.endsWith('.safetensors'));
      if (files.length !== 2 || !keyFile || !lora) {
        throw new Error("choose a key's two files together: its .key.json and its .peft.safetensors LoRA");
      }
      if (lora.size > MAX_FILE_BYTES) throw new Error(`${lora.name} is too large to send (${lora.size} bytes)`);
      const key = await this.client.call('importWatermarkKey', {
        keyFile: { name: keyFile.name, text: await keyFile.text() },
        lora: { name: lora.name, bytes: new Uint8Array(await lora.arrayBuffer()) },
      });
      if (!this.keys.some((k) => k.id === key.id)) this.keys = [...this.keys, key];
    });
  }

  rename(id: string, name: string): Promise<boolean> {
    return this.act(async () => {
      const key = await this.client.call('renameWatermarkKey', { id, name });
      this.keys = this.keys.map((k) => (k.id === id ? key : k));
    });
  }

  remove(id: string): Promise<boolean> {
    return this.act(async () => {
      await this.client.call('deleteWatermarkKey', { id }, { timeoutMs: 600_000 });
      this.keys = this.keys.filter((k) => k.id !== id);
    });
  }

  /** Switches embedding on or off for the loaded model (on needs a key: the chosen one, else the first). */
  setEnabled(enabled: boolean): Promise<boolean> {
    const keyId = this.state?.keyId ?? this.keys[0]?.id;
    return this.act(async () => {
      this.state = await this.client.call('setWatermark', enabled && keyId ? { enabled, keyId } : { enabled }, { timeoutMs: 600_000 });
    });
  }

  /** Chooses the key to embed (applied at once when embedding is on). */
  chooseKey(keyId: string): Promise<boolean> {
    return this.act(async () => {
      this.state = await this.client.call('setWatermark', { enabled: this.state?.enabled ?? false, keyId }, { timeoutMs: 600_000 });
    });
  }

  /** Verifies files one by one; each gets a row at once and its verdict when the engine answers. */
  async verify(files: readonly File[]): Promise<void> {
    const fpr = this.fpr;
    const items = files.map((f) => ({ id: this.nextId++, name: f.name, status: 'checking' as const, verdict: null, error: null }));
    this.results = [...items, ...this.results].slice(0, 100);
    for (const [i, file] of files.entries()) {
      const id = items[i]!.id;
      let update: Partial<VerifyItem>;
      if (file.size > MAX_FILE_BYTES) {
        update = { status: 'error', error: `${file.name} is too large to check here (${(file.size / 2 ** 20).toFixed(1)} MB); use: npx atelier watermark verify FILE` };
      } else {
        try {
          const bytes = new Uint8Array(await file.arrayBuffer());
          const { results } = await this.client.call('verifyWatermark', { files: [{ name: file.name, bytes }], fpr }, { timeoutMs: 120_000 });
          const verdict = results[0]!;
          update = { status: verdict.status, verdict };
        } catch (error) {
          update = { status: 'error', error: `${file.name}: ${messageOf(error)}` };
        }
      }
      this.results = this.results.map((r) => (r.id === id ? { ...r, ...update } : r));
    }
  }

  clearResults(): void {
    this.results = [];
  }
}
