/**
 * Reads any supported adapter file into the normalized model (model.ts): groups its keys by
 * module, builds each module's delta source (LoRA factors, LoHa, LoKr), finds its alpha (a
 * per-module `.alpha` tensor, else the metadata rules in alpha.ts, else alpha = rank), translates
 * Black Forest Labs' FLUX names (bfl.ts) and names the format:
 * - `lycoris`: LoHa (`hada_*`) or LoKr (`lokr_*`) modules (LyCORIS files may mix in LoCon);
 * - `kohya`: `lora_unet_` / `lora_te*_` prefixes with underscore-flattened names (SD, and FLUX
 *   with BFL names as sd-scripts writes them), `lora_down` / `lora_up` / `alpha`;
 * - `bfl`: BFL module names (`double_blocks.0.img_attn.qkv.lora_A.weight`, BFL's own LoRAs);
 * - `peft`: diffusers/peft names with a component prefix (`transformer.`, `unet.`,
 *   `text_encoder.`, `base_model.model.`, `vae.`), `lora_A` / `lora_B`, alphas from metadata;
 * - `slideredit`: bare module paths with `lora_A` / `lora_B` and no alpha (what SliderEdit's
 *   `save_selective_lora_state_dict` writes; its scale is set at run time, alpha = rank).
 * Only the header and the alpha scalars are read here; factors are read when needed (load.ts).
 *
 * Why one reader over a shared key grammar (keys.ts, bfl.ts, alpha.ts) rather than one module per
 * format: real files mix conventions (LyCORIS files carry LoCon `lora_down` modules beside LoHa
 * ones, sd-scripts' FLUX LoRAs are kohya keys over BFL names, diffusers keeps kohya alphas), so
 * the format is a label for reports, decided after every key has been read the same way.
 */
import type { SafetensorsReader } from '../safetensors.js';
import type { Adapter, AdapterTarget, Component, DeltaSource, FormatName, UnusedKey } from '../model.js';
import { alphaRules } from './alpha.js';
import { bflFromFlat, bflTargets } from './bfl.js';
import { parseKey, splitPrefix, type Prefix, type Role } from './keys.js';

interface Group {
  base: string;
  roles: Map<Role, string>;
  unsupported: string | null;
  keys: string[];
}

function group(names: string[], unused: UnusedKey[]): Map<string, Group> {
  const groups = new Map<string, Group>();
  const get = (base: string) => {
    let g = groups.get(base);
    if (!g) groups.set(base, (g = { base, roles: new Map(), unsupported: null, keys: [] }));
    return g;
  };
  for (const key of names) {
    const parsed = parseKey(key);
    if (parsed.kind === 'unknown') {
      unused.push({ key, reason: 'not an adapter tensor (unknown name suffix)' });
      continue;
    }
    const g = get(parsed.base);
    g.keys.push(key);
    if (parsed.kind === 'unsupported') g.unsupported ??= parsed.reason;
    else g.roles.set(parsed.role, key);
  }
  return groups;
}

function shapeOf(reader: SafetensorsReader, key: string): number[] {
  return reader.info(key).shape;
}

async function alphaTensor(reader: SafetensorsReader, key: string | undefined): Promise<number | null> {
  if (!key) return null;
  const values = await reader.readFloat32(key);
  if (values.length !== 1 || !Number.isFinite(values[0]!)) return Number.NaN;
  return values[0]!;
}

/** The delta source of a group, or the reason it has none. */
interface Built {
  source: DeltaSource;
  rank: number;
  out: number;
  inFlat: number;
  kernel: number[] | null;
}

const product = (s: number[]) => s.reduce((a, b) => a * b, 1);

function sourceOf(reader: SafetensorsReader, g: Group, alpha: number | null): Built | string {
  const r = g.roles;
  const has = (...roles: Role[]) => roles.every((x) => r.has(x));
  const down = r.get('down');
  const up = r.get('up');
  if (down && up) {
    const ds = shapeOf(reader, down);
    const us = shapeOf(reader, up);
    const rank = ds[0] ?? 0;
    const okDown = (ds.length === 2 || ds.length === 4) && rank > 0;
    const okUp = (us.length === 2 || (us.length === 4 && us[2] === 1 && us[3] === 1)) && us[1] === rank;
    if (!okDown || !okUp) return `LoRA factor shapes do not fit: down [${ds.join(', ')}], up [${us.join(', ')}]`;
    return { source: { kind: 'lowrank', down, up, alpha }, rank, out: us[0]!, inFlat: product(ds.slice(1)), kernel: ds.length === 4 ? [ds[2]!, ds[3]!] : null };
  }
  if (has('hada_w1_a', 'hada_w1_b', 'hada_w2_a', 'hada_w2_b')) {
    const [w1a, w1b, w2a, w2b] = (['hada_w1_a', 'hada_w1_b', 'hada_w2_a', 'hada_w2_b'] as const).map((x) => shapeOf(reader, r.get(x)!));
    const rank = w1b![0] ?? 0;
    const fits = [w1a, w1b, w2a, w2b].every((s) => s!.length === 2) && w1a![1] === rank && w2a![1] === w2b![0] && w1a![0] === w2a![0] && w1b![1] === w2b![1];
    if (!fits || rank === 0) return `LoHa factor shapes do not fit: ${[w1a, w1b, w2a, w2b].map((s) => `[${s!.join(', ')}]`).join(', ')}`;
    return {
      source: { kind: 'loha', w1a: r.get('hada_w1_a')!, w1b: r.get('hada_w1_b')!, w2a: r.get('hada_w2_a')!, w2b: r.get('hada_w2_b')!, alpha },
      rank,
      out: w1a![0]!,
      inFlat: w1b![1]!,
      kernel: null,
    };
  }
  const w1 = r.get('lokr_w1') ?? (has('lokr_w1_a', 'lokr_w1_b') ? ([r.get('lokr_w1_a')!, r.get('lokr_w1_b')!] as [string, string]) : null);
  const w2 = r.get('lokr_w2') ?? (has('lokr_w2_a', 'lokr_w2_b') ? ([r.get('lokr_w2_a')!, r.get('lokr_w2_b')!] as [string, string]) : null);
  if (w1 && w2) {
    const rows = (w: string | [string, string]) => (typeof w === 'string' ? shapeOf(reader, w)[0]! : shapeOf(reader, w[0])[0]!);
    const cols = (w: string | [string, string]) => (typeof w === 'string' ? product(shapeOf(reader, w).slice(1)) : product(shapeOf(reader, w[1]).slice(1)));
    const w2Shape = typeof w2 === 'string' ? shapeOf(reader, w2) : [];
    const okRanks = (w: string | [string, string]) => typeof w === 'string' || shapeOf(reader, w[0])[1] === shapeOf(reader, w[1])[0];
    if (!okRanks(w1) || !okRanks(w2) || (typeof w1 === 'string' && shapeOf(reader, w1).length !== 2)) return `LoKr factor shapes do not fit`;
    // As ComfyUI and LyCORIS read it: the rank is that of the decomposed factor (w2's when both are).
    const rank = typeof w2 !== 'string' ? shapeOf(reader, w2[1])[0]! : typeof w1 !== 'string' ? shapeOf(reader, w1[1])[0]! : 0;
    return { source: { kind: 'lokr', w1, w2, alpha }, rank, out: rows(w1) * rows(w2), inFlat: cols(w1) * cols(w2), kernel: w2Shape.length === 4 ? [w2Shape[2]!, w2Shape[3]!] : null };
  }
  const found = [...r.keys()].join(', ') || 'nothing';
  return `incomplete module: has ${found}, lacks the other factors`;
}

function detectFormat(kinds: Set<string>, prefixes: Set<Prefix | null>, bfl: boolean): FormatName {
  if (kinds.has('loha') || kinds.has('lokr')) return 'lycoris';
  if ([...prefixes].some((p) => p?.kohya)) return 'kohya';
  if (bfl) return 'bfl';
  if ([...prefixes].some((p) => p !== null)) return 'peft';
  return 'slideredit';
}

export async function readAdapter(reader: SafetensorsReader): Promise<Adapter> {
  const unused: UnusedKey[] = [];
  const groups = group(reader.names, unused);
  const rules = alphaRules(reader.metadata);
  const targets: AdapterTarget[] = [];
  const kinds = new Set<string>();
  const prefixes = new Set<Prefix | null>();
  const ranks = new Set<number>();
  let sawBfl = false;
  for (const g of groups.values()) {
    const refuse = (reason: string) => {
      for (const key of g.keys) unused.push({ key, reason });
    };
    if (g.unsupported) {
      refuse(g.unsupported);
      continue;
    }
    const { prefix, module } = splitPrefix(g.base);
    const component: Component = prefix?.component ?? 'denoiser';
    let naming = prefix?.naming ?? 'dotted';
    let name = module;
    if (naming === 'flat') {
      const dotted = bflFromFlat(module);
      if (dotted) {
        name = dotted;
        naming = 'dotted';
      }
    }
    const bfl = naming === 'dotted' && component === 'denoiser' ? bflTargets(name) : null;
    const alphaKey = g.roles.get('alpha');
    const alpha = alphaKey ? await alphaTensor(reader, alphaKey) : rules.alphaFor(component, name);
    if (alpha !== null && !(alpha > 0)) {
      refuse(`alpha is not a positive number`);
      continue;
    }
    const built = sourceOf(reader, g, alpha);
    if (typeof built === 'string') {
      refuse(built);
      continue;
    }
    const split = bfl ?? [{ module: name, rows: null, swapHalves: false }];
    const parts = split[0]!.rows?.parts;
    if (parts && built.out % parts.reduce((a, b) => a + b, 0) !== 0) {
      refuse(`the fused output (${built.out} rows) cannot be split into parts of ${parts.join(':')}`);
      continue;
    }
    if (bfl) sawBfl = true;
    prefixes.add(prefix);
    kinds.add(built.source.kind === 'lowrank' ? 'lora' : built.source.kind);
    if (built.rank > 0) ranks.add(built.rank);
    const total = parts ? parts.reduce((a, b) => a + b, 0) : 1;
    for (const s of split) {
      const out = s.rows ? (built.out / total) * s.rows.parts[s.rows.part]! : built.out;
      targets.push({ component, module: s.module, naming, keys: g.keys, source: built.source, rows: s.rows, swapHalves: s.swapHalves, sourceModule: g.base, out, inFlat: built.inFlat, kernel: built.kernel });
    }
  }
  return {
    file: reader.name,
    format: detectFormat(kinds, prefixes, sawBfl),
    kinds: [...kinds].sort(),
    targets,
    unused,
    metadata: reader.metadata,
    ranks: [...ranks].sort((a, b) => a - b),
  };
}
