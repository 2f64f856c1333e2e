/**
 * The grammar of adapter keys, shared by every format: `<prefix><module><role suffix>`.
 * - Role suffixes: LoRA factors under kohya (`lora_down`/`lora_up`), peft/diffusers (`lora_A`/
 *   `lora_B`, with or without peft's adapter name `default`) and old diffusers (`lora.down`)
 *   spellings, per-module `alpha`, LyCORIS LoHa (`hada_*`) and LoKr (`lokr_*`) factors, and the
 *   suffixes of kinds the engine does not apply (named, so the coverage report can say why).
 * - Prefixes: which component a key belongs to, and whether its module name is a dotted path or
 *   kohya's underscore flattening of one.
 */
import type { Component } from '../model.js';

export type Role =
  | 'down'
  | 'up'
  | 'alpha'
  | 'hada_w1_a'
  | 'hada_w1_b'
  | 'hada_w2_a'
  | 'hada_w2_b'
  | 'lokr_w1'
  | 'lokr_w1_a'
  | 'lokr_w1_b'
  | 'lokr_w2'
  | 'lokr_w2_a'
  | 'lokr_w2_b';

const ROLES: Array<[string, Role]> = [
  ['.lora_A.default.weight', 'down'],
  ['.lora_B.default.weight', 'up'],
  ['.lora_down.weight', 'down'],
  ['.lora_up.weight', 'up'],
  ['.lora_A.weight', 'down'],
  ['.lora_B.weight', 'up'],
  ['.lora.down.weight', 'down'],
  ['.lora.up.weight', 'up'],
  ['.alpha', 'alpha'],
  ['.hada_w1_a', 'hada_w1_a'],
  ['.hada_w1_b', 'hada_w1_b'],
  ['.hada_w2_a', 'hada_w2_a'],
  ['.hada_w2_b', 'hada_w2_b'],
  ['.lokr_w1_a', 'lokr_w1_a'],
  ['.lokr_w1_b', 'lokr_w1_b'],
  ['.lokr_w2_a', 'lokr_w2_a'],
  ['.lokr_w2_b', 'lokr_w2_b'],
  ['.lokr_w1', 'lokr_w1'],
  ['.lokr_w2', 'lokr_w2'],
];

/** Suffixes of adapter kinds that are recognized but not applied, with the reason. */
const UNSUPPORTED: Array<[string, string]> = [
  ['.lora_mid.weight', 'LoCon Tucker decomposition (lora_mid) is not supported'],
  ['.hada_t1', 'LoHa Tucker decomposition (hada_t1/t2) is not supported'],
  ['.hada_t2', 'LoHa Tucker decomposition (hada_t1/t2) is not supported'],
  ['.lokr_t2', 'LoKr Tucker decomposition (lokr_t2) is not supported'],
  ['.dora_scale', 'DoRA magnitude vectors are not supported'],
  ['.lora_magnitude_vector', 'DoRA magnitude vectors are not supported'],
  ['.diff', 'full weight differences (diff) are not supported'],
  ['.diff_b', 'bias differences (diff_b) are not supported'],
  ['.w_norm', 'LyCORIS norm layers are not supported'],
  ['.b_norm', 'LyCORIS norm layers are not supported'],
  ['.oft_blocks', 'OFT/BOFT adapters are not supported'],
  ['.oft_diag', 'OFT/BOFT adapters are not supported'],
];

export type ParsedKey = { kind: 'role'; base: string; role: Role } | { kind: 'unsupported'; base: string; reason: string } | { kind: 'unknown' };

export function parseKey(key: string): ParsedKey {
  for (const [suffix, role] of ROLES) if (key.endsWith(suffix) && key.length > suffix.length) return { kind: 'role', base: key.slice(0, -suffix.length), role };
  for (const [suffix, reason] of UNSUPPORTED) if (key.endsWith(suffix) && key.length > suffix.length) return { kind: 'unsupported', base: key.slice(0, -suffix.length), reason };
  return { kind: 'unknown' };
}

export interface Prefix {
  prefix: string;
  component: Component;
  naming: 'dotted' | 'flat';
  /** Kohya-family prefixes (for format detection). */
  kohya: boolean;
}

const PREFIXES: Prefix[] = [
  { prefix: 'lora_unet_', component: 'denoiser', naming: 'flat', kohya: true },
  { prefix: 'lora_transformer_', component: 'denoiser', naming: 'flat', kohya: true },
  { prefix: 'lycoris_', component: 'denoiser', naming: 'flat', kohya: true },
  { prefix: 'lora_te1_', component: 'text_encoder', naming: 'flat', kohya: true },
  { prefix: 'lora_te2_', component: 'text_encoder_2', naming: 'flat', kohya: true },
  { prefix: 'lora_te_', component: 'text_encoder', naming: 'flat', kohya: true },
  { prefix: 'base_model.model.', component: 'denoiser', naming: 'dotted', kohya: false },
  { prefix: 'model.diffusion_model.', component: 'denoiser', naming: 'dotted', kohya: false },
  { prefix: 'diffusion_model.', component: 'denoiser', naming: 'dotted', kohya: false },
  { prefix: 'transformer.', component: 'denoiser', naming: 'dotted', kohya: false },
  { prefix: 'unet.', component: 'denoiser', naming: 'dotted', kohya: false },
  { prefix: 'text_encoder_2.', component: 'text_encoder_2', naming: 'dotted', kohya: false },
  { prefix: 'text_encoder.', component: 'text_encoder', naming: 'dotted', kohya: false },
  { prefix: 'vae.', component: 'vae', naming: 'dotted', kohya: false },
];

/** The prefix of a module base name, or null for a bare module path (SliderEdit checkpoints). */
export function splitPrefix(base: string): { prefix: Prefix | null; module: string } {
  for (const p of PREFIXES) if (base.startsWith(p.prefix) && base.length > p.prefix.length) return { prefix: p, module: base.slice(p.prefix.length) };
  return { prefix: null, module: base };
}
