/**
 * Where a LoRA's alpha comes from when the file has no per-module `.alpha` tensor (the scale of a
 * layer is alpha / rank; without any alpha it is 1):
 * - diffusers (>= 0.34) stores peft's LoraConfig in the `lora_adapter_metadata` metadata entry as
 *   JSON, keys optionally prefixed by component (`transformer.lora_alpha`, `transformer.r`,
 *   `transformer.alpha_pattern`); `alpha_pattern` entries match module names as peft does
 *   (`(.*\.)?<pattern>$`);
 * - kohya's trainers store `ss_network_alpha` (and `ss_network_dim`) for the whole network.
 */
import type { Component } from '../model.js';
import { isJsonObject, parseStrictJson, type JsonObject } from '../strict-json.js';

export interface AlphaRules {
  /** Alpha for a module of a component, or null when the metadata says nothing. */
  alphaFor(component: Component, module: string): number | null;
  /** Where the rules came from, for reports. */
  source: string | null;
}

const COMPONENT_PREFIX: Record<Component, string[]> = {
  denoiser: ['transformer', 'unet'],
  text_encoder: ['text_encoder'],
  text_encoder_2: ['text_encoder_2'],
  vae: ['vae'],
};

function num(v: unknown): number | null {
  const n = typeof v === 'string' ? Number(v) : v;
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : null;
}

function patternMatch(patterns: JsonObject | null, module: string): number | null {
  if (!patterns) return null;
  for (const [pattern, value] of Object.entries(patterns)) {
    let re: RegExp;
    try {
      re = new RegExp(`^(.*\\.)?(${pattern})$`);
    } catch {
      continue;
    }
    if (re.test(module)) return num(value);
  }
  return null;
}

export function alphaRules(metadata: Record<string, string>): AlphaRules {
  const raw = metadata.lora_adapter_metadata;
  if (raw !== undefined) {
    let config: JsonObject | null = null;
    try {
      const parsed = parseStrictJson(raw, 6);
      config = isJsonObject(parsed) ? parsed : null;
    } catch {
      config = null;
    }
    if (config) {
      const cfg = config;
      const get = (component: Component, key: string) => {
        for (const p of COMPONENT_PREFIX[component]) if (Object.hasOwn(cfg, `${p}.${key}`)) return cfg[`${p}.${key}`];
        return Object.hasOwn(cfg, key) ? cfg[key] : undefined;
      };
      return {
        source: 'lora_adapter_metadata',
        alphaFor(component, module) {
          const patterns = get(component, 'alpha_pattern');
          return patternMatch(isJsonObject(patterns) ? patterns : null, module) ?? num(get(component, 'lora_alpha'));
        },
      };
    }
  }
  const kohya = num(metadata.ss_network_alpha);
  if (kohya !== null) return { source: 'ss_network_alpha', alphaFor: () => kohya };
  return { source: null, alphaFor: () => null };
}
