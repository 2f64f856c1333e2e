/**
 * Live branches: graph surgery that adds, for every targeted weight, y += s (.) (x A) B next to the
 * original node, with s a graph input, so adapter strengths change between runs without
 * rebuilding the session.
 *
 * - Linear (MatMul, Gemm): h = MatMul(x, A) with A = down^T (in x r); h' = Mul(h, s); d = MatMul(h',
 *   B) with B = (alpha / r) up^T (r x out). The scale multiplies the rank-r intermediate (cheaper
 *   than the output, and the same thing since s is constant along features). Dense deltas (LoHa,
 *   LoKr) get one MatMul with (alpha / r) dW^T, exact, at the cost of the base layer.
 * - Conv: Conv(x, down kernel, the node's strides/pads/dilations), Mul by s, 1x1 Conv with the
 *   up kernel; dense deltas are one Conv with the delta kernel.
 * - Deltas join the layer's output in a Sum: the bias Add torch exports after a MatMul becomes
 *   Sum(x W, d_1, ..., d_n, bias); elsewhere the output y is renamed y__base and y = Sum(y__base,
 *   d_1, ...), so every consumer of y reads the adapted value and nothing else moves.
 * - Branches of one adapter on layers reading the same input (q, k, v) share their nodes (see
 *   Surgery): on the tiny default model ONNX Runtime's per-node cost, not arithmetic, is what a
 *   branch costs. Small layers of a graph with one adapter go further: the branch is folded into
 *   the layer's own product, MatMul(Concat(x, s (.) x A), [W; B]) (Surgery.foldGroup), three nodes
 *   per group and nothing after the layer.
 * - Scale inputs (float32): `[1]` for a scalar, or `[batch, tokens, 1]` for a per-token vector over
 *   the rows of a (batch, tokens, features) input; SliderEdit feeds one value per text token. A
 *   per-token scale is refused on 2-D Gemm and Conv inputs. Graphs computing in float16 get a Cast.
 * - s = 0 gives y__base + 0, i.e. exactly the base output (for finite branch values).
 */
import { create } from '@bufbuild/protobuf';
import { AttributeProtoSchema, AttributeProto_AttributeType, TensorProtoSchema } from 'onnx-buf';
import { EngineError } from '../errors.js';
import { GraphIndex, isDefaultDomain } from '../onnx/graph.js';
import { DataType, intAttribute, intsAttribute, node, valueInfo, type NodeProto, type TensorProto } from '../onnx/proto.js';
import { float32ToBytes, readTensorFloat32 } from '../onnx/tensor-data.js';
import { cachedGraph, type CachedGraph, type DataSink } from './cache.js';
import { scaled, transposeScaled } from './delta-math.js';
import { loadDelta } from './load.js';
import type { LoadedAdapter } from './loaded.js';
import { indexModules, mapTarget, type WeightSite } from './mapping.js';
import type { Component, Delta } from './model.js';
import { SafetensorsReader } from './safetensors.js';

export interface LiveUse {
  loaded: LoadedAdapter;
  /** The graph input carrying this adapter's scale. */
  input: string;
  perToken: boolean;
}

export interface LiveOptions {
  cacheDir: string;
  source: string;
  component: Component;
  uses: LiveUse[];
}

export interface LiveResult extends CachedGraph {
  branches: number;
  seconds: number;
}

/** Graph input names for adapter scales: one per slot, stable across runs. */
export function scaleInputName(slot: number): string {
  return `atelier_adapter_scale_${slot}`;
}

function tensor(name: string, dims: number[], values: Float32Array, dataType: number, sink: DataSink): TensorProto {
  const t = create(TensorProtoSchema, { name, dims: dims.map((d) => BigInt(d)), dataType });
  sink.place(t, float32ToBytes(values, dataType));
  return t;
}

function stringAttribute(name: string, value: string) {
  return create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.STRING, s: new TextEncoder().encode(value) });
}

function convAttributes(site: WeightSite, kernel: number[], ownPads: boolean) {
  const c = site.conv!;
  const attrs = [intsAttribute('kernel_shape', kernel), intsAttribute('strides', ownPads ? c.strides : [1, 1]), intsAttribute('dilations', ownPads ? c.dilations : [1, 1])];
  if (!ownPads) return attrs;
  if (c.autoPad !== 'NOTSET') return [...attrs, stringAttribute('auto_pad', c.autoPad)];
  return [...attrs, intsAttribute('pads', c.pads)];
}

interface Member {
  site: WeightSite;
  delta: Delta;
}

/**
 * Builds the branches. Node count matters more than arithmetic for small models (ONNX Runtime
 * spends microseconds per node), so:
 * - low-rank branches of one adapter that read the same input (q, k, v; a single block's q, k, v
 *   and proj_mlp) share one down MatMul (A concatenated), one Mul by the scale and one up MatMul
 *   (B block-diagonal), then a Split: 4 nodes for the group instead of 4 per layer;
 * - the delta joins the layer's output in the bias Add torch exports after a MatMul, turned into
 *   a Sum (x W, deltas..., bias), so adding it costs no extra node; elsewhere a Sum is inserted.
 * Weights stay constant initializers (ONNX Runtime pre-packs MatMul weights; scaling the weights
 * by the input instead of the activations measured slower, as they were re-packed every run).
 * - small layers, one adapter: the group is folded into its layers (foldGroup), 3 nodes per group.
 * Measured on the tiny default model with its 60-layer rank-8 style LoRA (24 groups), nodes after
 * ONNX Runtime's optimizations: baked 1447; grouped branches 1539 (live/baked step 1.09-1.14 in
 * quiet runs); folded 1529 with 78 of them cheap (down MatMul, Mul, Concat; 1.05-1.11).
 */
class Surgery {
  private readonly scaleValues = new Map<string, string>(); // input:dtype -> value in the compute dtype
  /** Per layer output: the Sum node that accumulates deltas into it. */
  private readonly sums = new Map<NodeProto, NodeProto>();
  /** Sums made from a bias Add: the bias stays their last input. */
  private readonly biasLast = new Set<NodeProto>();
  /** Nodes that go first in the graph: the scale Casts. */
  private readonly prelude: NodeProto[] = [];

  constructor(
    private readonly index: GraphIndex,
    private readonly sink: DataSink,
    private readonly opset: number,
    private readonly sourceDir: string,
  ) {}

  /** The scale as a value of the compute dtype (a Cast from the float32 input when needed). */
  private scale(input: string, perToken: boolean, dtype: number): string {
    const key = `${input}:${dtype}`;
    const known = this.scaleValues.get(key);
    if (known) return known;
    if (!this.index.inputs.has(input)) {
      this.index.graph.input.push(valueInfo(input, DataType.FLOAT, perToken ? ['atelier_batch', 'atelier_tokens', 1] : [1]));
      this.index.inputs.add(input);
    }
    let value = input;
    if (dtype !== DataType.FLOAT) {
      value = this.index.fresh(`${input}__cast${dtype}`);
      this.prelude.push(node('Cast', [input], [value], this.index.fresh(`/atelier_adapters/${input}/Cast`), [intAttribute('to', dtype)]));
    }
    this.scaleValues.set(key, value);
    return value;
  }

  private initializer(name: string, dims: number[], values: Float32Array, dtype: number): string {
    const t = tensor(this.index.fresh(name), dims, values, dtype, this.sink);
    this.index.graph.initializer.push(t);
    this.index.initializers.set(t.name, t);
    return t.name;
  }

  /** The bias Add torch exports after a layer: `layer`'s output feeds only it, it adds a constant, and the output is not a graph output. */
  private torchBiasAdd(layer: NodeProto): { add: NodeProto; bias: string } | null {
    const y = layer.output[0]!;
    const consumers = this.index.consumers.get(y) ?? [];
    const add = consumers.length === 1 && consumers[0]!.opType === 'Add' && isDefaultDomain(consumers[0]!) ? consumers[0]! : null;
    if (!add || add.input.length !== 2 || this.index.graph.output.some((o) => o.name === y)) return null;
    const bias = add.input.find((i) => i !== y);
    return bias !== undefined && this.index.constantTensor(bias) !== null ? { add, bias } : null;
  }

  /** torchBiasAdd, when nothing has been joined to the layer yet and the bias is an initializer of `out` values (so biases can be concatenated). */
  private absorbableBias(layer: NodeProto, out: number): { add: NodeProto; bias: string } | null {
    const found = this.sums.has(layer) ? null : this.torchBiasAdd(layer);
    const t = found ? this.index.initializers.get(found.bias) : undefined;
    return t && t.dims.length === 1 && Number(t.dims[0]) === out ? found : null;
  }

  /** Adds `delta` (a value shaped like the layer's output) to the output of `layer`. */
  private accumulate(layer: NodeProto, delta: string): void {
    let sum = this.sums.get(layer);
    if (!sum) {
      const found = this.torchBiasAdd(layer);
      if (found) {
        // (bias, x W) -> (x W, deltas..., bias): same output, same place; the same-shape terms
        // first, the broadcast bias last (ONNX Runtime's Sum is slower when it starts broadcasting)
        found.add.opType = 'Sum';
        found.add.input = [layer.output[0]!, found.bias];
        this.biasLast.add(found.add);
        sum = found.add;
      } else {
        const { original, detached } = this.index.detachOutput(layer);
        sum = node('Sum', [detached], [original], this.index.fresh(`${layer.name}__adapters/Sum`));
        this.index.insertAfter(layer, [sum]);
      }
      this.sums.set(layer, sum);
    }
    sum.opType = 'Sum'; // an Add that took a bias-carrying delta (applyGroup) grows into a Sum
    if (this.biasLast.has(sum)) sum.input.splice(sum.input.length - 1, 0, delta);
    else sum.input.push(delta);
  }

  /** One branch (dense, conv, or a layer run more than once): its own nodes. */
  applyOne(site: WeightSite, use: LiveUse, delta: Delta, tag: string): void {
    const dtype = site.computeType;
    const scope = `/atelier_adapters/${tag}/${site.module.replace(/\./g, '/')}`;
    const conv = site.op === 'Conv';
    if (use.perToken && (conv || site.op === 'Gemm')) {
      throw new EngineError('bad_input', `${site.module}: a per-token scale needs a (batch, tokens, features) input; this layer is a ${site.op}`);
    }
    const s = this.scale(use.input, use.perToken, dtype);
    let weights: string[];
    if (conv) {
      const [kh, kw] = site.kernel!;
      weights =
        delta.kind === 'dense'
          ? [this.initializer(`${scope}/delta`, [delta.out, site.in, kh!, kw!], scaled(delta.delta, delta.scale), dtype)]
          : [this.initializer(`${scope}/down`, [delta.rank, site.in, kh!, kw!], delta.down, dtype), this.initializer(`${scope}/up`, [delta.out, delta.rank, 1, 1], scaled(delta.up, delta.scale), dtype)];
    } else {
      weights =
        delta.kind === 'dense'
          ? [this.initializer(`${scope}/delta`, [delta.inFlat, delta.out], transposeScaled(delta.delta, delta.out, delta.inFlat, delta.scale), dtype)]
          : [
              this.initializer(`${scope}/down`, [delta.inFlat, delta.rank], transposeScaled(delta.down, delta.rank, delta.inFlat), dtype),
              this.initializer(`${scope}/up`, [delta.rank, delta.out], transposeScaled(delta.up, delta.out, delta.rank, delta.scale), dtype),
            ];
    }
    for (const layer of site.nodes) {
      const x = layer.input[0]!;
      const name = (what: string) => this.index.fresh(`${scope}/${what}`);
      const nodes: NodeProto[] = [];
      const out = name('delta');
      if (delta.kind === 'dense') {
        const y = name('y');
        nodes.push(conv ? node('Conv', [x, weights[0]!], [y], name('Conv'), convAttributes(site, site.kernel!, true)) : node('MatMul', [x, weights[0]!], [y], name('MatMul')));
        nodes.push(node('Mul', [y, s], [out], name('Mul')));
      } else {
        const h = name('h');
        const hs = name('hs');
        nodes.push(conv ? node('Conv', [x, weights[0]!], [h], name('Conv_down'), convAttributes(site, site.kernel!, true)) : node('MatMul', [x, weights[0]!], [h], name('MatMul_down')));
        nodes.push(node('Mul', [h, s], [hs], name('Mul')));
        nodes.push(conv ? node('Conv', [hs, weights[1]!], [out], name('Conv_up'), convAttributes(site, [1, 1], false)) : node('MatMul', [hs, weights[1]!], [out], name('MatMul_up')));
      }
      this.index.insertAfter(layer, nodes);
      this.accumulate(layer, out);
    }
  }

  private split(value: string, outputs: string[], sizes: number[], axis: number, name: string): NodeProto {
    if (this.opset < 13) return node('Split', [value], outputs, name, [intAttribute('axis', axis), intsAttribute('split', sizes)]);
    const t = create(TensorProtoSchema, { name: this.index.fresh(`${name}/sizes`), dims: [BigInt(sizes.length)], dataType: DataType.INT64, rawData: new Uint8Array(BigInt64Array.from(sizes.map(BigInt)).buffer) });
    this.index.graph.initializer.push(t);
    return node('Split', [value, t.name], outputs, name, [intAttribute('axis', axis)]);
  }

  /**
   * What every group starts with: the members' down factors concatenated (A: in x R, R the sum of
   * their ranks) and hs = s (.) (x A), the scale multiplying the rank-R activations ((batch,
   * tokens, R) by [1] or (batch, tokens, 1)). Weights stay constant initializers: ONNX Runtime
   * pre-packs those for MatMul, and weights computed per run (scaled by an input) would be
   * re-packed on every run.
   */
  private groupDown(members: Member[], use: LiveUse, tag: string) {
    const first = members[0]!.site;
    const dtype = first.computeType;
    const layer = first.nodes[0]!;
    const x = layer.input[0]!;
    const scope = `/atelier_adapters/${tag}/${first.module.replace(/\./g, '/')}${members.length > 1 ? `+${members.length - 1}` : ''}`;
    const name = (what: string) => this.index.fresh(`${scope}/${what}`);
    const inFlat = members[0]!.delta.inFlat;
    const deltas = members.map((m) => m.delta as Extract<Delta, { kind: 'lowrank' }>);
    const R = deltas.reduce((a, d) => a + d.rank, 0);
    const A = new Float32Array(inFlat * R);
    let r0 = 0;
    for (const d of deltas) {
      for (let k = 0; k < d.rank; k++) for (let j = 0; j < inFlat; j++) A[j * R + r0 + k] = d.down[k * inFlat + j]!;
      r0 += d.rank;
    }
    const s = this.scale(use.input, use.perToken, dtype);
    const a = this.initializer(`${scope}/down`, [inFlat, R], A, dtype);
    const h = name('h');
    const hs = name('hs');
    const nodes: NodeProto[] = [node('MatMul', [x, a], [h], name('MatMul_down')), node('Mul', [h, s], [hs], name('Mul'))];
    return { layer, x, dtype, scope, name, inFlat, deltas, R, hs, nodes };
  }

  /** Puts `nodes` right before `layer` (the first member: every member's output join comes after it). */
  private insertBefore(layer: NodeProto, nodes: NodeProto[]): void {
    this.index.graph.node.splice(this.index.graph.node.indexOf(layer), 0, ...nodes);
    for (const n of nodes) for (const o of n.output) this.index.producers.set(o, n);
  }

  /**
   * Low-rank branches of one adapter on linear layers that read the same input: one down MatMul
   * (A concatenated), the scale, one up MatMul (B block-diagonal), and a Split when there are
   * several layers.
   */
  applyGroup(members: Member[], use: LiveUse, tag: string): void {
    const { layer, dtype, scope, name, deltas, R, hs, nodes } = this.groupDown(members, use, tag);
    const outs = deltas.map((d) => d.out);
    const O = outs.reduce((a, b) => a + b, 0);
    const B = new Float32Array(R * O);
    let r0 = 0;
    let o0 = 0;
    for (const d of deltas) {
      for (let o = 0; o < d.out; o++) for (let k = 0; k < d.rank; k++) B[(r0 + k) * O + o0 + o] = d.scale * d.up[o * d.rank + k]!;
      r0 += d.rank;
      o0 += d.out;
    }
    const b = this.initializer(`${scope}/up`, [R, O], B, dtype);
    const d = members.length > 1 ? name('delta') : name(`delta_${members[0]!.site.module.split('.').pop()}`);
    nodes.push(node('MatMul', [hs, b], [d], name('MatMul_up')));
    const outputs = members.length > 1 ? members.map((m) => name(`delta_${m.site.module.split('.').pop()}`)) : [d];
    // Where every member ends in torch's bias Add (a group of two or more), the biases move into
    // the delta: d + Concat(biases) is split per member and takes the bias's place in its Add.
    // One Add per group instead of a three-input Sum per member (ONNX Runtime's Sum with a
    // broadcast operand costs about two Adds); the Concat of initializers is folded at load. With
    // s = 0 the delta is exactly 0 and 0 + bias = bias, so the base output is unchanged bit for bit.
    const biasAdds = members.map((m, i) => this.absorbableBias(m.site.nodes[0]!, outs[i]!));
    const absorb = members.length > 1 && biasAdds.every((b) => b !== null);
    let joined = d;
    if (absorb) {
      const biases = biasAdds.map((b) => b!.bias);
      const allBias = name('bias');
      const withBias = name('delta_bias');
      nodes.push(node('Concat', biases, [allBias], name('Concat_bias'), [intAttribute('axis', 0)]));
      nodes.push(node('Add', [d, allBias], [withBias], name('Add_bias')));
      joined = withBias;
    }
    if (members.length > 1) nodes.push(this.split(joined, outputs, outs, -1, name('Split')));
    this.insertBefore(layer, nodes);
    if (absorb) {
      members.forEach((m, i) => {
        const { add } = biasAdds[i]!;
        add.input = [m.site.nodes[0]!.output[0]!, outputs[i]!];
        this.sums.set(m.site.nodes[0]!, add);
      });
      return;
    }
    members.forEach((m, i) => this.accumulate(m.site.nodes[0]!, outputs[i]!));
  }

  /**
   * A group folded into its layers (see `foldable`): hs = s (.) (x A) once for the group, then each
   * member's MatMul(x, W) becomes MatMul(Concat(x, hs), [W; B_i]) with B_i = (alpha / r) up^T in
   * the member's rows of the group rank and zeros elsewhere: x W + hs B_i in the layer's own
   * product. Three nodes for the group (down MatMul, Mul, Concat) and nothing after the layer, so
   * the bias Add and every fusion behind it stay as they were. With s = 0 the extra rows multiply
   * zeros, so the output is the base output (up to the order of the sum when the longer inner
   * dimension changes the kernel's blocking).
   */
  foldGroup(members: Member[], use: LiveUse, tag: string): void {
    const { layer, x, dtype, scope, name, inFlat, deltas, R, hs, nodes } = this.groupDown(members, use, tag);
    const xc = name('x_hs');
    nodes.push(node('Concat', [x, hs], [xc], name('Concat'), [intAttribute('axis', -1)]));
    this.insertBefore(layer, nodes);
    let r0 = 0;
    for (const [i, m] of members.entries()) {
      const d = deltas[i]!;
      const w = readTensorFloat32(m.site.tensor, this.sourceDir, m.site.module); // (in, out)
      const folded = new Float32Array((inFlat + R) * d.out);
      folded.set(w);
      for (let k = 0; k < d.rank; k++) for (let o = 0; o < d.out; o++) folded[(inFlat + r0 + k) * d.out + o] = d.scale * d.up[o * d.rank + k]!;
      r0 += d.rank;
      const layerNode = m.site.nodes[0]!;
      layerNode.input[0] = xc;
      layerNode.input[1] = this.initializer(`${scope}/${m.site.module.split('.').pop()}/folded_weight`, [inFlat + R, d.out], folded, dtype);
    }
  }

  /** Puts the scale Casts first in the graph. */
  finish(): void {
    this.index.graph.node.unshift(...this.prelude);
    for (const n of this.prelude) for (const o of n.output) this.index.producers.set(o, n);
  }
}

/** Low-rank branches of linear layers that run once: these share nodes (a MatMul or Gemm with a 2-D or 3-D input). */
function groupable(m: Member): boolean {
  return m.delta.kind === 'lowrank' && m.site.op !== 'Conv' && m.site.nodes.length === 1;
}

/**
 * Small layers take their branch folded into the layer's own product (Surgery.foldGroup): on a
 * model this small ONNX Runtime's per-node cost, not arithmetic, is what a branch costs (measured
 * on the tiny default model with two intra-op threads: ~20 us per added MatMul, Split or Add
 * against a 10 ms step). The folded layer carries a copy of its weight, so only layers whose
 * weight is at most FOLD_MAX_BYTES are folded; on big models (FLUX's 3072-wide layers) the
 * arithmetic dominates, a copy would cost gigabytes, and the branch form is used. Only a graph
 * with one adapter folds: a second one on the same layer would have to extend the concatenation.
 */
const FOLD_MAX_BYTES = 1 << 20;

function foldable(m: Member): boolean {
  const s = m.site;
  return groupable(m) && s.op === 'MatMul' && s.layout === 'in_out' && s.input === s.tensorName && s.storedType === DataType.FLOAT && s.computeType === DataType.FLOAT && s.in * s.out * 4 <= FOLD_MAX_BYTES;
}

/** Groups an adapter's branches: groupable ones reading the same input go together. */
function groups(list: Array<{ site: WeightSite; delta: Delta }>): Member[][] {
  const byInput = new Map<string, Member[]>();
  const alone: Member[][] = [];
  for (const m of list) {
    if (!groupable(m)) {
      alone.push([m]);
      continue;
    }
    const key = `${m.site.nodes[0]!.input[0]}|${m.site.computeType}|${m.delta.inFlat}`;
    const g = byInput.get(key);
    if (g) g.push(m);
    else byInput.set(key, [m]);
  }
  return [...byInput.values(), ...alone];
}

/** Bumped when the surgery's output changes, so cached live graphs from older code are rebuilt. */
const LIVE_SURGERY_VERSION = 4;

export async function liveGraph(options: LiveOptions): Promise<LiveResult> {
  const started = performance.now();
  let branches = 0;
  const what = { mode: 'live', surgery: LIVE_SURGERY_VERSION, component: options.component, uses: options.uses.map((u) => ({ adapter: u.loaded.sha256, input: u.input, perToken: u.perToken })) };
  const result = await cachedGraph(options.cacheDir, options.source, what, async ({ model, sourceDir, sink }) => {
    const modules = indexModules(model);
    const graph = new GraphIndex(model);
    const opset = Number(model.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx')?.version ?? 17);
    const surgery = new Surgery(graph, sink, opset, sourceDir);
    const perUse: Array<{ use: LiveUse; list: Array<{ site: WeightSite; delta: Delta }> }> = [];
    const readers: SafetensorsReader[] = [];
    try {
      for (const use of options.uses) {
        const reader = await SafetensorsReader.openFile(use.loaded.file);
        readers.push(reader);
        const list: Array<{ site: WeightSite; delta: Delta }> = [];
        for (const target of use.loaded.adapter.targets) {
          if (target.component !== options.component) continue;
          const m = mapTarget(modules, target);
          if (!m.ok) continue;
          list.push({ site: m.site, delta: await loadDelta(reader, target) });
        }
        perUse.push({ use, list });
      }
    } finally {
      await Promise.all(readers.map((r) => r.close()));
    }
    // the sites come from `modules`' own index of the same model object: the same NodeProtos
    for (const [slot, { use, list }] of perUse.entries()) {
      for (const members of groups(list)) {
        if (members.length === 1 && !groupable(members[0]!)) surgery.applyOne(members[0]!.site, use, members[0]!.delta, `a${slot}`);
        else if (perUse.length === 1 && members.every(foldable)) surgery.foldGroup(members, use, `a${slot}`);
        else surgery.applyGroup(members, use, `a${slot}`);
      }
      branches += list.length;
    }
    surgery.finish();
  });
  return { ...result, branches, seconds: (performance.now() - started) / 1000 };
}
