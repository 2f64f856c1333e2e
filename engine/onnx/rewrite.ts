/**
 * Graph rewrites the engine needs before ONNX Runtime can open (or reproducibly run) some real
 * exports, done on the parsed ModelProto so every other field (and fields onnx-buf does not know)
 * is kept:
 *
 * - `bf16IoToFloat`: onnxruntime-node can neither feed nor read bfloat16 tensors, and refuses to
 *   open a graph with a bfloat16 input ("Unsupported data type: 16"). Each bfloat16 graph input
 *   becomes float32 followed by a Cast to bfloat16; each bfloat16 output is produced under a new
 *   name and Cast to float32 (what the twins builder's `bf16_io_to_float` does in Python).
 * - `samplingToMean`: VAE encoders exported with `latent_dist.sample()` draw their own noise
 *   (RandomNormalLike), so the same image encodes differently on every run. Replacing the noise
 *   by zeros makes the encoder return the distribution's mean, deterministic across runs.
 */
import { usedNames } from './graph.js';
import { DataType, intAttribute, node, type ModelProto, type NodeProto } from './proto.js';
import type { GraphProto } from 'onnx-buf';

function freshName(base: string, used: Set<string>): string {
  let name = base;
  for (let i = 2; used.has(name); i++) name = `${base}_${i}`;
  used.add(name);
  return name;
}

/** Renames uses of `from` as a node input, in subgraphs too (they may read outer-scope values). */
function renameInputs(nodes: NodeProto[], from: string, to: string): void {
  for (const n of nodes) {
    n.input = n.input.map((x) => (x === from ? to : x));
    for (const a of n.attribute) {
      if (a.g) renameInputs(a.g.node, from, to);
      for (const g of a.graphs) renameInputs(g.node, from, to);
    }
  }
}

function tensorElemType(v: { type?: { value: { case: string | undefined; value?: unknown } } }): number | null {
  if (v.type?.value.case !== 'tensorType') return null;
  return (v.type.value.value as { elemType: number }).elemType;
}

function setTensorElemType(v: { type?: { value: { case: string | undefined; value?: unknown } } }, elemType: number): void {
  if (v.type?.value.case === 'tensorType') (v.type.value.value as { elemType: number }).elemType = elemType;
}

/** Rewrites bfloat16 graph inputs and outputs to float32; returns the names changed. */
export function bf16IoToFloat(model: ModelProto): string[] {
  const graph = model.graph;
  if (!graph) return [];
  const used = usedNames(graph);
  const head: NodeProto[] = [];
  const tail: NodeProto[] = [];
  const changed: string[] = [];
  const inputNames = new Set(graph.input.map((i) => i.name));
  for (const input of graph.input) {
    if (tensorElemType(input) !== DataType.BFLOAT16) continue;
    const inner = freshName(`${input.name}__bf16`, used);
    renameInputs(graph.node, input.name, inner);
    head.push(node('Cast', [input.name], [inner], freshName(`atelier_cast_in_${input.name}`, used), [intAttribute('to', DataType.BFLOAT16)]));
    setTensorElemType(input, DataType.FLOAT);
    changed.push(input.name);
  }
  for (const output of graph.output) {
    if (tensorElemType(output) !== DataType.BFLOAT16) continue;
    if (inputNames.has(output.name)) {
      setTensorElemType(output, DataType.FLOAT); // a pass-through of an input already made float32
      changed.push(output.name);
      continue;
    }
    const inner = freshName(`${output.name}__bf16`, used);
    for (const n of graph.node) n.output = n.output.map((x) => (x === output.name ? inner : x));
    renameInputs(graph.node, output.name, inner);
    for (const v of graph.valueInfo) if (v.name === output.name) v.name = inner;
    tail.push(node('Cast', [inner], [output.name], freshName(`atelier_cast_out_${output.name}`, used), [intAttribute('to', DataType.FLOAT)]));
    setTensorElemType(output, DataType.FLOAT);
    changed.push(output.name);
  }
  graph.node = [...head, ...graph.node, ...tail];
  return changed;
}

/**
 * Replaces each RandomNormalLike(x) of the main graph (mean 0) by zeros shaped like x; returns how
 * many were replaced. Nodes with a non-zero `mean` are left alone.
 */
export function samplingToMean(model: ModelProto): number {
  const graph = model.graph;
  if (!graph) return 0;
  const used = usedNames(graph);
  let replaced = 0;
  const nodes: NodeProto[] = [];
  for (const n of graph.node) {
    const isNoise = n.opType === 'RandomNormalLike' && (n.domain === '' || n.domain === 'ai.onnx');
    const mean = n.attribute.find((a) => a.name === 'mean')?.f ?? 0;
    if (!isNoise || mean !== 0 || n.input.length !== 1 || n.output.length !== 1) {
      nodes.push(n);
      continue;
    }
    const x = n.input[0]!;
    const y = n.output[0]!;
    const dtype = n.attribute.find((a) => a.name === 'dtype');
    if (dtype) {
      const zeros = freshName(`${y}__zeros`, used);
      nodes.push(node('Sub', [x, x], [zeros], freshName(`${n.name || 'noise'}_as_zeros`, used)));
      nodes.push(node('Cast', [zeros], [y], freshName(`${n.name || 'noise'}_cast`, used), [intAttribute('to', Number(dtype.i))]));
    } else {
      nodes.push(node('Sub', [x, x], [y], freshName(`${n.name || 'noise'}_as_zeros`, used)));
    }
    replaced++;
  }
  graph.node = nodes;
  return replaced;
}

/** The external data files a model references (locations relative to the model file). */
export function externalDataLocations(model: ModelProto): string[] {
  const locations = new Set<string>();
  const visitTensor = (t: { externalData: Array<{ key: string; value: string }> }) => {
    const location = t.externalData.find((e) => e.key === 'location')?.value;
    if (location) locations.add(location);
  };
  const visitGraph = (g: GraphProto) => {
    for (const t of g.initializer) visitTensor(t);
    for (const s of g.sparseInitializer) {
      if (s.values) visitTensor(s.values);
      if (s.indices) visitTensor(s.indices);
    }
    for (const n of g.node) {
      for (const a of n.attribute) {
        if (a.t) visitTensor(a.t);
        for (const t of a.tensors) visitTensor(t);
        if (a.g) visitGraph(a.g);
        for (const sub of a.graphs) visitGraph(sub);
      }
    }
  };
  if (model.graph) visitGraph(model.graph);
  return [...locations];
}
