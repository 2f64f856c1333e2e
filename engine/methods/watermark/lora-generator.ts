/**
 * A key's LoRA without Python: key_to_lora.onnx maps the key's bits (float32 [1, bits], 0 or 1)
 * to the LoRA factors of the VAE decoder layers the watermark lives in, one output per factor,
 * named as the peft safetensors key it becomes (`vae.decoder....lora_A.weight` [r, in, kh, kw],
 * `....lora_B.weight` [out, r, 1, 1]). The outputs are checked (names, pairs, rank, shapes, finite
 * values) and written as a peft-format file with `lora_adapter_metadata` {"vae.r", "vae.lora_alpha"},
 * which engine/adapters reads and bakes like any other LoRA.
 */
import { EngineError } from '../../errors.js';
import { writeSafetensors, type TensorToWrite } from '../../adapters/safetensors.js';
import { ort } from '../../runtime/ort.js';
import { openSession } from '../../runtime/session.js';
import { float32Of } from '../../runtime/tensors.js';
import type { WatermarkAssets } from './assets.js';
import type { Bits } from './bits.js';

export const KEY_INPUT = 'key_bits';
const FACTOR = /^vae\.(.+)\.lora_(A|B)\.weight$/;

/** The peft tensors for `bits`, checked. */
export async function generateLora(assets: WatermarkAssets, bits: Bits): Promise<TensorToWrite[]> {
  const { manifest, keyToLoraFile: file } = assets;
  if (bits.length !== manifest.bits) throw new EngineError('internal', `a key of ${bits.length} bits for a ${manifest.bits}-bit watermark`);
  const session = await openSession(file, { provider: 'cpu' });
  let outputs: Record<string, ort.Tensor>;
  try {
    if (!session.hasInput(KEY_INPUT)) throw new EngineError('model_error', `${file}: no input "${KEY_INPUT}" (it has: ${session.inputs.map((i) => i.name).join(', ')})`);
    outputs = await session.run({ [KEY_INPUT]: new ort.Tensor('float32', Float32Array.from(bits), [1, bits.length]) });
  } finally {
    await session.release();
  }
  return checkFactors(file, manifest.rank, outputs);
}

function checkFactors(file: string, rank: number, outputs: Record<string, ort.Tensor>): TensorToWrite[] {
  const bad = (what: string) => new EngineError('model_error', `${file}: ${what}`);
  const modules = new Map<string, { A?: ort.Tensor; B?: ort.Tensor }>();
  for (const [name, tensor] of Object.entries(outputs)) {
    const m = FACTOR.exec(name);
    if (!m) throw bad(`output "${name}" is not named like a peft LoRA factor (vae.<module>.lora_A.weight / lora_B.weight)`);
    const entry = modules.get(m[1]!) ?? {};
    entry[m[2] as 'A' | 'B'] = tensor;
    modules.set(m[1]!, entry);
  }
  if (modules.size === 0) throw bad('no LoRA factors among the outputs');
  const tensors: TensorToWrite[] = [];
  for (const [module, { A, B }] of modules) {
    if (!A || !B) throw bad(`${module} has lora_${A ? 'A' : 'B'} without lora_${A ? 'B' : 'A'}`);
    const a = A.dims.map(Number);
    const b = B.dims.map(Number);
    if (a.length !== 4 && a.length !== 2) throw bad(`${module}.lora_A has shape [${a.join(', ')}], expected [r, in, kh, kw] or [r, in]`);
    if (b.length !== a.length || (b.length === 4 && (b[2] !== 1 || b[3] !== 1))) throw bad(`${module}.lora_B has shape [${b.join(', ')}], expected [out, r${a.length === 4 ? ', 1, 1' : ''}]`);
    if (a[0] !== rank || b[1] !== rank) throw bad(`${module}: rank ${a[0]}/${b[1]}, the manifest says ${rank}`);
    for (const [suffix, t, shape] of [['A', A, a], ['B', B, b]] as const) {
      const data = float32Of(t, `${module}.lora_${suffix}`).slice();
      if (!data.every(Number.isFinite)) throw bad(`${module}.lora_${suffix} has values that are not finite`);
      tensors.push({ name: `vae.${module}.lora_${suffix}.weight`, dtype: 'F32', shape: [...shape], data });
    }
  }
  return tensors.sort((x, y) => (x.name < y.name ? -1 : 1));
}

/** Writes the generated factors as a peft LoRA file (atomically). */
export async function writeKeyLora(file: string, assets: WatermarkAssets, tensors: TensorToWrite[]): Promise<void> {
  const { rank, alpha } = assets.manifest;
  await writeSafetensors(file, tensors, { lora_adapter_metadata: JSON.stringify({ 'vae.r': rank, 'vae.lora_alpha': alpha }), format: 'pt' });
}
