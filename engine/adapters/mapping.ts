/**
 * Maps adapter targets (module paths) to the weights of an ONNX graph, by the node scopes torch
 * exports write: the module `transformer_blocks.0.attn.to_q` is the node
 * `/transformer_blocks.0/attn/to_q/MatMul` (or `Gemm`, `Conv`; `_1`, `_2` suffixes when a module
 * runs more than once). Its weight input is followed back to the stored tensor through
 * Transpose (orientation flips), Cast (float16 weights computed in float32) and Identity nodes,
 * to an initializer, often anonymous (`onnx::MatMul_1082`), or a Constant node.
 *
 * Orientation: torch's Linear weight is (out, in). A MatMul multiplies by (in, out), so an
 * exported MatMul weight is stored transposed unless a Transpose node sits in between; Gemm
 * stores (out, in) with transB = 1, (in, out) with transB = 0. Conv kernels are (out, in, kh, kw)
 * and take 1x1 and kxk deltas (group 1 only).
 *
 * Nothing is guessed: a target whose scope is absent, ambiguous (a flattened kohya name matching
 * two paths), computed (quantized or fused weights) or of another shape is reported unmapped with
 * the reason; a graph whose MatMul/Gemm/Conv nodes carry no scopes at all (optimized or renamed
 * exports) is named as such.
 */
import { EngineError, messageOf } from '../errors.js';
import { parseModel, type ModelProto, type NodeProto, type TensorProto } from '../onnx/proto.js';
import { GraphIndex, floatAttr, intAttr, intsAttr, isDefaultDomain, stringAttr, tensorDims } from '../onnx/graph.js';
import { FLOAT_TYPES } from '../onnx/tensor-data.js';
import type { AdapterTarget } from './model.js';

export type WeightLayout = 'in_out' | 'out_in' | 'conv';

export interface ConvAttributes {
  strides: number[];
  pads: number[];
  dilations: number[];
  autoPad: string;
}

/** A weight a delta can be applied to. */
export interface WeightSite {
  module: string;
  op: 'MatMul' | 'Gemm' | 'Conv';
  /** The nodes that use the weight (a module that runs twice has two). */
  nodes: NodeProto[];
  /** Where the weight enters those nodes (their input 1) and the stored tensor behind it. */
  input: string;
  tensorName: string;
  tensor: TensorProto;
  layout: WeightLayout;
  out: number;
  in: number;
  kernel: number[] | null;
  /** The stored tensor's element type, and the type the node computes in (after a Cast). */
  storedType: number;
  computeType: number;
  conv: ConvAttributes | null;
}

export interface ModuleIndex {
  sites: Map<string, WeightSite>;
  /** Modules whose weight cannot take a delta, and why. */
  problems: Map<string, string>;
  /** flattened name (dots -> underscores) -> module paths */
  flat: Map<string, string[]>;
  /** MatMul/Gemm/Conv nodes with a stored weight but no module scope. */
  unscoped: number;
}

const SCOPED = /^\/(.+)\/(MatMul|Gemm|Conv)(_\d+)?$/;

interface Resolved {
  tensor: TensorProto;
  tensorName: string;
  flips: number;
  computeType: number | null;
}

/**
 * Follows a weight input back to its stored tensor. A string says why a stored weight cannot take
 * a delta; null means the input is an activation (attention's q @ k), not a weight at all.
 */
function resolveWeight(index: GraphIndex, name: string): Resolved | string | null {
  let flips = 0;
  let computeType: number | null = null;
  let current = name;
  const fromStored = (node: NodeProto) => node.input.some((i) => index.constantTensor(i) !== null);
  for (let hops = 0; hops < 6; hops++) {
    const tensor = index.constantTensor(current);
    if (tensor) return { tensor, tensorName: current, flips, computeType };
    const producer = index.producers.get(current);
    if (!producer) return null; // a graph input
    const passThrough = isDefaultDomain(producer) && (producer.opType === 'Transpose' || producer.opType === 'Cast' || producer.opType === 'Identity');
    if (!passThrough) {
      if (!fromStored(producer)) return null;
      const op = isDefaultDomain(producer) ? producer.opType : `${producer.domain}.${producer.opType}`;
      return `the weight is computed by a ${op} node (quantized, fused or reshaped weights are not mapped)`;
    }
    if (producer.opType === 'Transpose') {
      const perm = intsAttr(producer, 'perm');
      if (perm && !(perm.length === 2 && perm[0] === 1 && perm[1] === 0)) return fromStored(producer) ? `the weight goes through a Transpose with perm [${perm.join(', ')}]` : null;
      flips++;
    } else if (producer.opType === 'Cast') {
      computeType ??= intAttr(producer, 'to', 0);
    }
    current = producer.input[0] ?? '';
  }
  return null;
}

function siteOf(index: GraphIndex, node: NodeProto, module: string): WeightSite | string {
  const op = node.opType as WeightSite['op'];
  const input = node.input[1];
  if (!input) return 'the node has no weight input';
  const r = resolveWeight(index, input);
  if (r === null) return 'activation';
  if (typeof r === 'string') return r;
  const dims = tensorDims(r.tensor);
  const storedType = r.tensor.dataType;
  if (!FLOAT_TYPES.has(storedType)) return `the weight is stored as data type ${storedType}, not a float type`;
  const computeType = r.computeType ?? storedType;
  const base = { module, op, nodes: [node], input, tensorName: r.tensorName, tensor: r.tensor, storedType, computeType };
  if (op === 'Conv') {
    if (r.flips > 0) return 'the kernel goes through a Transpose';
    if (dims.length !== 4) return `the kernel has ${dims.length} dimensions (only 2-D convolutions are mapped)`;
    if (intAttr(node, 'group', 1) !== 1) return 'grouped convolution (group != 1)';
    const conv: ConvAttributes = {
      strides: intsAttr(node, 'strides') ?? [1, 1],
      pads: intsAttr(node, 'pads') ?? [0, 0, 0, 0],
      dilations: intsAttr(node, 'dilations') ?? [1, 1],
      autoPad: stringAttr(node, 'auto_pad') ?? 'NOTSET',
    };
    return { ...base, layout: 'conv', out: dims[0]!, in: dims[1]!, kernel: [dims[2]!, dims[3]!], conv };
  }
  if (dims.length !== 2) return `the weight has ${dims.length} dimensions`;
  let transposed: boolean; // stored (in, out)?
  if (op === 'Gemm') {
    if (intAttr(node, 'transA', 0) !== 0) return 'Gemm with transA';
    if (floatAttr(node, 'alpha', 1) !== 1) return 'Gemm with alpha != 1';
    transposed = intAttr(node, 'transB', 0) === 0;
  } else transposed = true;
  if (r.flips % 2 === 1) transposed = !transposed;
  const layout: WeightLayout = transposed ? 'in_out' : 'out_in';
  return { ...base, layout, out: transposed ? dims[1]! : dims[0]!, in: transposed ? dims[0]! : dims[1]!, kernel: null, conv: null };
}

/** The module-scoped weights of a graph. */
export function indexModules(model: ModelProto): ModuleIndex {
  const index = new GraphIndex(model);
  const sites = new Map<string, WeightSite>();
  const problems = new Map<string, string>();
  let unscoped = 0;
  for (const node of index.graph.node) {
    if (!isDefaultDomain(node) || (node.opType !== 'MatMul' && node.opType !== 'Gemm' && node.opType !== 'Conv')) continue;
    const m = SCOPED.exec(node.name);
    if (!m) {
      const r = node.input[1] ? resolveWeight(index, node.input[1]) : null;
      if (r !== null && typeof r !== 'string') unscoped++;
      continue;
    }
    const module = m[1]!.replace(/\//g, '.');
    const site = siteOf(index, node, module);
    if (site === 'activation') continue; // attention's q @ k inside a module: not a weight
    if (typeof site === 'string') {
      if (!sites.has(module)) problems.set(module, site);
      continue;
    }
    const existing = sites.get(module);
    if (!existing) {
      sites.set(module, site);
      problems.delete(module);
    } else if (existing.tensorName === site.tensorName && existing.op === site.op && existing.input === site.input) existing.nodes.push(node);
    else problems.set(module, 'several different weights under this scope');
  }
  for (const module of problems.keys()) sites.delete(module);
  const flat = new Map<string, string[]>();
  for (const module of [...sites.keys(), ...problems.keys()]) {
    const key = module.replace(/\./g, '_');
    flat.set(key, [...(flat.get(key) ?? []), module]);
  }
  return { sites, problems, flat, unscoped };
}

export type TargetMapping = { ok: true; site: WeightSite } | { ok: false; reason: string };

function shapeProblem(target: AdapterTarget, site: WeightSite): string | null {
  const siteIn = site.in * (site.kernel ? site.kernel[0]! * site.kernel[1]! : 1);
  const want = `${site.out} x ${site.in}${site.kernel ? ` x ${site.kernel.join(' x ')}` : ''}`;
  const got = `${target.out} x ${target.kernel ? `${target.inFlat / (target.kernel[0]! * target.kernel[1]!)} x ${target.kernel.join(' x ')}` : target.inFlat}`;
  if (target.out !== site.out || target.inFlat !== siteIn) return `shape mismatch: the delta is ${got}, the weight ${want}`;
  if (target.kernel && site.kernel && (target.kernel[0] !== site.kernel[0] || target.kernel[1] !== site.kernel[1])) return `shape mismatch: a ${target.kernel.join('x')} delta kernel on a ${site.kernel.join('x')} convolution`;
  if (target.kernel && !site.kernel) return 'a convolution delta on a linear weight';
  return null;
}

/** Where one target goes in a graph, or why it cannot. */
export function mapTarget(index: ModuleIndex, target: AdapterTarget): TargetMapping {
  let module = target.module;
  if (target.naming === 'flat') {
    const candidates = index.flat.get(target.module) ?? [];
    if (candidates.length > 1) return { ok: false, reason: `the flattened name matches several modules: ${candidates.join(', ')}` };
    if (candidates.length === 0) return { ok: false, reason: notFound(index, target.module.replace(/_/g, '.'), true) };
    module = candidates[0]!;
  }
  const problem = index.problems.get(module);
  if (problem) return { ok: false, reason: `${module}: ${problem}` };
  const site = index.sites.get(module);
  if (!site) return { ok: false, reason: notFound(index, module, false) };
  const shape = shapeProblem(target, site);
  if (shape) return { ok: false, reason: shape };
  return { ok: true, site };
}

/** The node scope torch writes for a module path: dots separate modules, except before list indices. */
export function scopeOf(module: string): string {
  return `/${module.replace(/\.(?!\d+(?:\.|$))/g, '/')}`;
}

function notFound(index: ModuleIndex, module: string, flat: boolean): string {
  if (index.sites.size === 0 && index.unscoped > 0) {
    return `the graph's MatMul/Gemm/Conv nodes carry no module scopes (an optimized or renamed export): adapters cannot be mapped by name`;
  }
  const parent = module.split('.').slice(0, -1).join('.');
  const fused = [...index.sites.keys()].find((m) => m.startsWith(`${parent}.`) && /qkv|to_qkv|in_proj/.test(m.slice(parent.length + 1)));
  if (fused) return `no module ${module} in the graph; it has ${fused} (fused projections are not split)`;
  const node = `${scopeOf(module)}/MatMul|Gemm|Conv`;
  return flat ? `no module in the graph flattens to this name (looked for nodes like ${node})` : `no module ${module} in the graph (no node ${node})`;
}

/**
 * Parses a graph file and indexes its module-scoped weights; any failure is an EngineError naming
 * the file (a malformed ONNX file must never surface as another kind of exception).
 */
export function indexGraphFile(file: string, bytes: Uint8Array): ModuleIndex {
  const model = parseModel(bytes, file);
  if (!model.graph) throw new EngineError('model_error', `${file}: not an ONNX model (it has no graph)`);
  try {
    return indexModules(model);
  } catch (error) {
    throw new EngineError('model_error', `${file}: cannot read its graph (${messageOf(error)})`);
  }
}
