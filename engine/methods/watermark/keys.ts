/**
 * The owner's watermark keys, in the user's data folder (DATA_DIR/watermark/keys): per key a
 * `<id>.key.json` ({id, name, bits, created, lora, training}) and its LoRA `<id>.peft.safetensors`
 * (generated from the bits by key_to_lora.onnx, then trained by key_trainer.onnx when the watermark
 * files have it: key-trainer.ts), both written atomically, the LoRA first, so a key
 * is listed only once both exist, and deleted JSON first, so a half-deleted key is never listed.
 * The zoo's demo key is listed too, read-only. Unreadable key files are skipped and reported.
 * A key trained elsewhere (the zoo's `zoo.watermark key`: its own LoRA over the whole decoder,
 * which reads back far better than a generated one) is imported: its LoRA checked, then both
 * files copied in under a new id.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { EngineError, messageOf } from '../../errors.js';
import { loadAdapterFile } from '../../adapters/loaded.js';
import { writeFileAtomic, writeJsonAtomic } from '../../stores/atomic.js';
import { KeyFile, parseJsonText, readJsonFile, type WatermarkAssets } from './assets.js';
import { bitsFromHex, randomKeyHex, type Bits } from './bits.js';
import { trainKeyLora, type KeyTrainingOptions } from './key-trainer.js';
import { generateLora, writeKeyLora } from './lora-generator.js';

export interface WatermarkKey {
  id: string;
  name: string;
  /** The bits as hex, most significant bit first. */
  bits: string;
  created: string;
  /** The zoo's demo key: cannot be renamed or deleted. */
  builtIn: boolean;
  /** The key's LoRA (peft safetensors). */
  loraFile: string;
  /** How the app trained its LoRA, for keys made here with training. */
  training: KeyTraining | null;
}

export interface KeyTraining {
  steps: number;
  /** Running bit accuracy over the trainer's attack views at the kept step. */
  bitAccuracy: number;
  psnrDb: number;
  seconds: number;
}

function trainingOf(key: KeyFile): KeyTraining | null {
  const t = key.training;
  return t ? { steps: t.steps, bitAccuracy: t.bit_accuracy, psnrDb: t.psnr_db, seconds: t.seconds } : null;
}

/** The key file's `training` field for `t` (none when the key was not trained). */
function trainingField(t: KeyTraining | null): Pick<KeyFile, 'training'> {
  return t ? { training: { steps: t.steps, bit_accuracy: round(t.bitAccuracy, 4), psnr_db: round(t.psnrDb, 2), seconds: round(t.seconds, 1) } } : {};
}

const USER_ID = /^key-[0-9a-f]{12}$/;
export const MAX_KEY_NAME = 100;

export function checkKeyName(name: string): string {
  const trimmed = name.trim();
  if (trimmed.length === 0) throw new EngineError('invalid_params', 'a key needs a name');
  if (trimmed.length > MAX_KEY_NAME) throw new EngineError('invalid_params', `a key name is at most ${MAX_KEY_NAME} characters (got ${trimmed.length})`);
  if (/\p{Cc}/u.test(trimmed)) throw new EngineError('invalid_params', 'a key name cannot hold control characters');
  return trimmed;
}

export function keyBits(key: WatermarkKey): Bits {
  return bitsFromHex(key.bits, key.bits.length * 4);
}

export class KeyStore {
  readonly dir: string;

  constructor(
    dataDir: string,
    private readonly assets: () => WatermarkAssets,
  ) {
    this.dir = path.join(dataDir, 'watermark', 'keys');
  }

  private fileFor(id: string, suffix: '.key.json' | '.peft.safetensors'): string {
    if (!USER_ID.test(id)) throw new EngineError('not_found', `no watermark key "${id}"`);
    return path.join(this.dir, `${id}${suffix}`);
  }

  private demo(): WatermarkKey | null {
    let assets: WatermarkAssets;
    try {
      assets = this.assets();
    } catch {
      return null; // no watermark files at all: list() still lists the user's keys
    }
    const d = assets.demoKey;
    return d ? { id: d.id, name: d.name, bits: d.bits, created: d.created, builtIn: true, loraFile: d.loraFile, training: null } : null;
  }

  /** Every key: the demo key first, then the user's by creation time. */
  async list(warn: (message: string) => void = () => {}): Promise<WatermarkKey[]> {
    let names: string[] = [];
    try {
      names = await fs.readdir(this.dir);
    } catch {
      // no keys yet
    }
    const keys: WatermarkKey[] = [];
    for (const name of names.filter((n) => n.endsWith('.key.json')).sort()) {
      const file = path.join(this.dir, name);
      try {
        const key = readJsonFile(file, KeyFile, 'watermark key file');
        if (`${key.id}.key.json` !== name || !USER_ID.test(key.id)) throw new Error(`its id "${key.id}" does not match the file name`);
        bitsFromHex(key.bits, key.bits.length * 4);
        const loraFile = this.fileFor(key.id, '.peft.safetensors');
        if (!existsSync(loraFile)) throw new Error(`its LoRA ${path.basename(loraFile)} is missing`);
        keys.push({ id: key.id, name: key.name, bits: key.bits, created: key.created, builtIn: false, loraFile, training: trainingOf(key) });
      } catch (error) {
        warn(`watermark keys: skipped ${file}: ${messageOf(error).split('\n')[0]}`);
      }
    }
    keys.sort((a, b) => a.created.localeCompare(b.created) || a.id.localeCompare(b.id));
    const demo = this.demo();
    return demo ? [demo, ...keys] : keys;
  }

  async get(id: string): Promise<WatermarkKey> {
    const key = (await this.list()).find((k) => k.id === id);
    if (!key) throw new EngineError('not_found', `no watermark key "${id}" (see the key list)`);
    return key;
  }

  /**
   * A new key: random bits, its LoRA generated, trained (when the watermark files have a key
   * trainer and `training.steps` is not 0; cancellable through `training.signal`) and written,
   * then its key file. Nothing is written before the training ends.
   */
  async create(name: string, training: KeyTrainingOptions = {}): Promise<WatermarkKey> {
    const checked = checkKeyName(name);
    const assets = this.assets();
    const hex = randomKeyHex();
    const id = `key-${randomBytes(6).toString('hex')}`;
    const bits = bitsFromHex(hex, assets.manifest.bits);
    const trained = await trainKeyLora(assets, bits, await generateLora(assets, bits), training);
    const loraFile = this.fileFor(id, '.peft.safetensors');
    await writeKeyLora(loraFile, assets, trained.tensors);
    const figures =
      trained.steps > 0 && trained.bitAccuracy !== null && trained.psnrDb !== null
        ? { steps: trained.steps, bitAccuracy: trained.bitAccuracy, psnrDb: trained.psnrDb, seconds: trained.seconds }
        : null;
    const key: KeyFile = { id, name: checked, bits: hex, created: new Date().toISOString(), lora: path.basename(loraFile), ...trainingField(figures) };
    try {
      await writeJsonAtomic(this.fileFor(id, '.key.json'), key);
    } catch (error) {
      await fs.rm(loraFile, { force: true });
      throw error;
    }
    return { id, name: checked, bits: hex, created: key.created, builtIn: false, loraFile, training: trainingOf(key) };
  }

  /**
   * Imports a key file (`<name>.key.json`, the KeyFile format) and the peft LoRA it names, which
   * must lie beside it. The copy gets a new id; the name is `name`, else the file's.
   */
  async import(keyFile: string, name?: string): Promise<WatermarkKey> {
    const source = readJsonFile(keyFile, KeyFile, 'watermark key file');
    if (path.basename(source.lora) !== source.lora) {
      throw new EngineError('bad_input', `${keyFile}: its "lora" must be a file name beside it, got "${source.lora}"`);
    }
    const loraSource = path.join(path.dirname(keyFile), source.lora);
    let lora: Uint8Array;
    try {
      lora = await fs.readFile(loraSource);
    } catch (error) {
      throw new EngineError('not_found', `${loraSource}: cannot read the key's LoRA (${messageOf(error)})`);
    }
    return this.importParsed(source, keyFile, lora, loraSource, name);
  }

  /**
   * The same from the files' contents (the app's Import button): `keyText` the key file's JSON,
   * `lora` its LoRA's bytes; `keyName` and `loraName` name them in errors.
   */
  async importBytes(keyText: string, keyName: string, lora: Uint8Array, loraName: string, name?: string): Promise<WatermarkKey> {
    return this.importParsed(parseJsonText(keyText, KeyFile, 'watermark key file', keyName), keyName, lora, loraName, name);
  }

  /**
   * The bits must have the extractor's length; the LoRA, written into the store first, must be a
   * peft file whose every target is a VAE decoder layer (else it is removed again); then the key
   * file. Nothing is listed unless both are in place.
   */
  private async importParsed(source: KeyFile, keyName: string, lora: Uint8Array, loraName: string, name?: string): Promise<WatermarkKey> {
    const checked = checkKeyName(name ?? source.name);
    const want = this.assets().manifest.bits;
    if (source.bits.length * 4 !== want) {
      throw new EngineError('bad_input', `${keyName}: its key has ${source.bits.length * 4} bits; the watermark extractor reads ${want}`);
    }
    const id = `key-${randomBytes(6).toString('hex')}`;
    const loraFile = this.fileFor(id, '.peft.safetensors');
    await writeFileAtomic(loraFile, lora);
    try {
      let loaded;
      try {
        loaded = await loadAdapterFile(loraFile);
      } catch (error) {
        throw new EngineError('bad_input', `${loraName}: ${messageOf(error).replace(`${loraFile}: `, '')}`);
      }
      if (loaded.adapter.format !== 'peft') {
        throw new EngineError('bad_input', `${loraName}: a watermark key's LoRA must be a peft file, this one is ${loaded.adapter.format}`);
      }
      const outside = loaded.adapter.targets.find((t) => t.component !== 'vae' || !t.module.startsWith('decoder.'));
      if (outside) {
        throw new EngineError('bad_input', `${loraName}: a watermark key's LoRA may only change VAE decoder layers; it targets ${outside.component} ${outside.module}`);
      }
      const key = { id, name: checked, bits: source.bits, created: new Date().toISOString(), lora: path.basename(loraFile) };
      await writeJsonAtomic(this.fileFor(id, '.key.json'), key);
      return { id, name: checked, bits: source.bits, created: key.created, builtIn: false, loraFile, training: null };
    } catch (error) {
      await fs.rm(loraFile, { force: true });
      throw error;
    }
  }

  private async userKey(id: string, action: string): Promise<WatermarkKey> {
    const key = await this.get(id);
    if (key.builtIn) throw new EngineError('invalid_params', `${key.name} is the built-in demo key; it cannot be ${action}`);
    return key;
  }

  async rename(id: string, name: string): Promise<WatermarkKey> {
    const checked = checkKeyName(name);
    const key = await this.userKey(id, 'renamed');
    await writeJsonAtomic(this.fileFor(id, '.key.json'), { id, name: checked, bits: key.bits, created: key.created, lora: path.basename(key.loraFile), ...trainingField(key.training) });
    return { ...key, name: checked };
  }

  async delete(id: string): Promise<void> {
    await this.userKey(id, 'deleted');
    await fs.rm(this.fileFor(id, '.key.json'));
    await fs.rm(this.fileFor(id, '.peft.safetensors'), { force: true });
  }
}

function round(x: number, digits: number): number {
  return Number(x.toFixed(digits));
}
