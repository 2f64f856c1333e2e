/**
 * The watermark method as the engine uses it: the shipped files (read once), the owner's keys,
 * verification of image files against every known key, and the per-model embedding switch
 * (remembered in DATA_DIR/watermark/embedding.json, written atomically). Embedding itself is
 * engine/adapters' bake of the key's LoRA into the VAE decoder; the engine asks this class which
 * adapter file that is (embedding.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { EngineError, messageOf } from '../../errors.js';
import { readJobMetadata } from '../../images/job-metadata.js';
import { DEFAULT_WATERMARK_FPR, type WatermarkKeyInfo, type WatermarkVerdict } from '../../protocol/index.js';
import { writeJsonAtomic } from '../../stores/atomic.js';
import { defaultWatermarkDir, readWatermarkAssets, type WatermarkAssets } from './assets.js';
import { bitsFromLogits } from './bits.js';
import { Extractor } from './extractor.js';
import { keyBits, KeyStore, type WatermarkKey } from './keys.js';
import { prepareForExtractor } from './prepare.js';
import { failed, judge, type Extraction, type KnownKey } from './verdict.js';

export interface EmbeddingSetting {
  enabled: boolean;
  keyId: string | null;
}

const EmbeddingFile = z.object({ models: z.record(z.string(), z.object({ enabled: z.boolean(), keyId: z.string().nullable() })) });

export interface VerifyInput {
  name: string;
  bytes: Uint8Array;
}

export function keyInfo(key: WatermarkKey): WatermarkKeyInfo {
  const t = key.training;
  return {
    id: key.id,
    name: key.name,
    bits: key.bits,
    created: key.created,
    builtIn: key.builtIn,
    ...(t ? { training: { steps: t.steps, bitAccuracy: t.bitAccuracy, psnrDb: t.psnrDb } } : {}),
  };
}

export class Watermarking {
  readonly keys: KeyStore;
  private readonly settingsFile: string;
  private cachedAssets: WatermarkAssets | null = null;
  private extractor: Promise<Extractor> | null = null;

  constructor(
    dataDir: string,
    private readonly assetsDir: string = defaultWatermarkDir(),
  ) {
    this.keys = new KeyStore(dataDir, () => this.assets());
    this.settingsFile = path.join(dataDir, 'watermark', 'embedding.json');
  }

  assets(): WatermarkAssets {
    this.cachedAssets ??= readWatermarkAssets(this.assetsDir);
    return this.cachedAssets;
  }

  private openExtractor(): Promise<Extractor> {
    if (!this.extractor) {
      this.extractor = Extractor.open(this.assets());
      this.extractor.catch(() => (this.extractor = null));
    }
    return this.extractor;
  }

  /** Known keys with their bits, for comparing. */
  async knownKeys(warn?: (message: string) => void): Promise<KnownKey[]> {
    return (await this.keys.list(warn)).map((k) => ({ id: k.id, name: k.name, bits: keyBits(k) }));
  }

  /** Extracted bits of already prepared images (the evaluation feeds decoded outputs directly). */
  async extract(images: Parameters<Extractor['logits']>[0]): Promise<Uint8Array[]> {
    const extractor = await this.openExtractor();
    return (await extractor.logits(images)).map(bitsFromLogits);
  }

  /** Extracted bits of encoded images through the verifier's own decode-and-resize path (bad files throw). */
  async readBits(files: readonly VerifyInput[]): Promise<Uint8Array[]> {
    const extractor = await this.openExtractor();
    const prepared = await Promise.all(files.map((f) => prepareForExtractor(f.bytes, f.name, extractor.width, extractor.height)));
    return (await extractor.logits(prepared.map((p) => p.image))).map(bitsFromLogits);
  }

  /** One verdict per file, in order; a file that cannot be read gets an error verdict, not an exception. */
  async verify(files: readonly VerifyInput[], fpr = DEFAULT_WATERMARK_FPR, warn?: (message: string) => void): Promise<WatermarkVerdict[]> {
    if (!(fpr > 0 && fpr < 1)) throw new EngineError('invalid_params', `the false-positive rate must be between 0 and 1 (exclusive), got ${fpr}`);
    const extractor = await this.openExtractor();
    const keys = (await this.knownKeys(warn)).filter((k) => k.bits.length === extractor.bits);
    const out: WatermarkVerdict[] = [];
    for (const file of files) {
      try {
        const prepared = await prepareForExtractor(file.bytes, file.name, extractor.width, extractor.height);
        const [logits] = await extractor.logits([prepared.image]);
        const extraction: Extraction = {
          name: file.name,
          bits: bitsFromLogits(logits!),
          notes: prepared.notes,
          claimedKeyId: readJobMetadata(file.bytes)?.watermarkKey ?? null,
          width: prepared.info.width,
          height: prepared.info.height,
        };
        out.push(judge(extraction, keys, fpr));
      } catch (error) {
        if (!(error instanceof EngineError) || error.code !== 'bad_input') throw error;
        out.push(failed(file.name, messageOf(error), keys.length, fpr, extractor.bits));
      }
    }
    return out;
  }

  /** The error verdict for a file that could not even be read (missing, a folder). */
  async unreadable(name: string, message: string, fpr = DEFAULT_WATERMARK_FPR): Promise<WatermarkVerdict> {
    const bits = this.assets().manifest.bits;
    const keys = (await this.knownKeys()).filter((k) => k.bits.length === bits);
    return failed(name, `${name}: ${message}`, keys.length, fpr, bits);
  }

  /** The embedding switch remembered for a model. */
  embedding(modelId: string): EmbeddingSetting {
    return this.readSettings()[modelId] ?? { enabled: false, keyId: null };
  }

  async setEmbedding(modelId: string, setting: EmbeddingSetting): Promise<void> {
    const models = this.readSettings();
    models[modelId] = setting;
    await writeJsonAtomic(this.settingsFile, { models });
  }

  private readSettings(): Record<string, EmbeddingSetting> {
    if (!existsSync(this.settingsFile)) return {};
    try {
      return EmbeddingFile.parse(JSON.parse(readFileSync(this.settingsFile, 'utf8'))).models;
    } catch (error) {
      throw new EngineError('bad_input', `${this.settingsFile}: the watermark settings are damaged (${messageOf(error).split('\n')[0]}); delete the file to start over`);
    }
  }

  async release(): Promise<void> {
    const extractor = this.extractor;
    this.extractor = null;
    if (extractor) await (await extractor.catch(() => null))?.release();
  }
}
