/**
 * Black Forest Labs' native FLUX module names (flux/model.py: double_blocks, single_blocks, ...)
 * translated to diffusers' FluxTransformer2DModel paths, which is what torch exports of FLUX
 * carry as node scopes. Follows diffusers' own conversion (convert_flux_to_diffusers.py and the
 * BFL/kohya LoRA converters):
 * - fused projections are split by output rows: `img_attn.qkv` -> to_q, to_k, to_v;
 *   `txt_attn.qkv` -> add_q_proj, add_k_proj, add_v_proj; single blocks' `linear1` -> to_q, to_k,
 *   to_v, proj_mlp in sizes d, d, d, 4d (FLUX's mlp_ratio 4; a model with another ratio shows up
 *   as a shape mismatch in the coverage report, not as a wrong split);
 * - `final_layer.adaLN_modulation.1` -> norm_out.linear with the two halves swapped (BFL: shift,
 *   scale; diffusers: scale, shift).
 * Kohya's FLUX LoRAs (sd-scripts) flatten these names with underscores; `bflFromFlat` restores
 * the dots for the known patterns.
 */
import type { RowSlice } from '../model.js';

export interface BflTarget {
  module: string;
  rows: RowSlice | null;
  swapHalves: boolean;
}

const STREAM: Record<'img' | 'txt', Record<string, string | string[]>> = {
  img: {
    'attn.qkv': ['attn.to_q', 'attn.to_k', 'attn.to_v'],
    'attn.proj': 'attn.to_out.0',
    'mlp.0': 'ff.net.0.proj',
    'mlp.2': 'ff.net.2',
    'mod.lin': 'norm1.linear',
  },
  txt: {
    'attn.qkv': ['attn.add_q_proj', 'attn.add_k_proj', 'attn.add_v_proj'],
    'attn.proj': 'attn.to_add_out',
    'mlp.0': 'ff_context.net.0.proj',
    'mlp.2': 'ff_context.net.2',
    'mod.lin': 'norm1_context.linear',
  },
};

const SINGLE: Record<string, string | string[]> = {
  linear1: ['attn.to_q', 'attn.to_k', 'attn.to_v', 'proj_mlp'],
  linear2: 'proj_out',
  'modulation.lin': 'norm.linear',
};

const TOP: Record<string, string> = {
  img_in: 'x_embedder',
  txt_in: 'context_embedder',
  'time_in.in_layer': 'time_text_embed.timestep_embedder.linear_1',
  'time_in.out_layer': 'time_text_embed.timestep_embedder.linear_2',
  'vector_in.in_layer': 'time_text_embed.text_embedder.linear_1',
  'vector_in.out_layer': 'time_text_embed.text_embedder.linear_2',
  'guidance_in.in_layer': 'time_text_embed.guidance_embedder.linear_1',
  'guidance_in.out_layer': 'time_text_embed.guidance_embedder.linear_2',
  'final_layer.linear': 'proj_out',
  'final_layer.adaLN_modulation.1': 'norm_out.linear',
};

function expand(prefix: string, to: string | string[], parts: number[] | null): BflTarget[] {
  if (typeof to === 'string') return [{ module: `${prefix}${to}`, rows: null, swapHalves: false }];
  const sizes = parts ?? to.map(() => 1);
  return to.map((m, part) => ({ module: `${prefix}${m}`, rows: { part, parts: sizes }, swapHalves: false }));
}

/** Whether a dotted module name is a BFL FLUX name. */
export function isBflName(module: string): boolean {
  return bflTargets(module) !== null;
}

/** The diffusers targets of a dotted BFL module name, or null when it is not one. */
export function bflTargets(module: string): BflTarget[] | null {
  let m = /^double_blocks\.(\d+)\.(img|txt)_(attn\.qkv|attn\.proj|mlp\.0|mlp\.2|mod\.lin)$/.exec(module);
  if (m) return expand(`transformer_blocks.${m[1]}.`, STREAM[m[2] as 'img' | 'txt'][m[3]!]!, null);
  m = /^single_blocks\.(\d+)\.(linear1|linear2|modulation\.lin)$/.exec(module);
  if (m) return expand(`single_transformer_blocks.${m[1]}.`, SINGLE[m[2]!]!, m[2] === 'linear1' ? [1, 1, 1, 4] : null);
  const top = TOP[module];
  if (top) return [{ module: top, rows: null, swapHalves: module === 'final_layer.adaLN_modulation.1' }];
  return null;
}

/** Restores the dots of a kohya-flattened BFL name (`double_blocks_0_img_attn_qkv`), or null. */
export function bflFromFlat(flat: string): string | null {
  let m = /^double_blocks_(\d+)_(img|txt)_(attn_qkv|attn_proj|mlp_0|mlp_2|mod_lin)$/.exec(flat);
  if (m) return `double_blocks.${m[1]}.${m[2]}_${m[3]!.replace('_', '.')}`;
  m = /^single_blocks_(\d+)_(linear1|linear2|modulation_lin)$/.exec(flat);
  if (m) return `single_blocks.${m[1]}.${m[2]!.replace('_', '.')}`;
  const top = Object.keys(TOP).find((k) => k.replace(/\./g, '_') === flat);
  return top ?? null;
}
