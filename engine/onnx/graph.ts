/**
 * Generic graph-editing helpers on a parsed ModelProto (main graph only): who produces and who
 * consumes each value, initializers and Constant nodes by name, attribute readers, fresh names,
 * and inserting nodes right after a given node (keeping the topological order ONNX requires).
 * Everything edits the proto in place, so fields onnx-buf does not know survive.
 */
import { create } from '@bufbuild/protobuf';
import { StringStringEntryProtoSchema, type AttributeProto, type GraphProto } from 'onnx-buf';
import type { ModelProto, NodeProto, TensorProto } from './proto.js';

export class GraphIndex {
  readonly graph: GraphProto;
  readonly producers = new Map<string, NodeProto>();
  readonly consumers = new Map<string, NodeProto[]>();
  readonly initializers = new Map<string, TensorProto>();
  readonly inputs = new Set<string>();
  private readonly used: Set<string>;

  constructor(readonly model: ModelProto) {
    if (!model.graph) throw new Error('the model has no graph');
    this.graph = model.graph;
    for (const t of this.graph.initializer) this.initializers.set(t.name, t);
    for (const i of this.graph.input) this.inputs.add(i.name);
    for (const n of this.graph.node) {
      for (const o of n.output) if (o) this.producers.set(o, n);
      for (const i of n.input) {
        if (!i) continue;
        const list = this.consumers.get(i);
        if (list) list.push(n);
        else this.consumers.set(i, [n]);
      }
    }
    this.used = usedNames(this.graph);
  }

  /** A name not used anywhere in the graph (nor handed out before), based on `base`. */
  fresh(base: string): string {
    let name = base;
    for (let i = 2; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }

  /** The tensor behind a value: an initializer, or the `value` of a Constant node. */
  constantTensor(name: string): TensorProto | null {
    const init = this.initializers.get(name);
    if (init) return init;
    const producer = this.producers.get(name);
    if (producer && producer.opType === 'Constant' && isDefaultDomain(producer)) {
      return producer.attribute.find((a) => a.name === 'value')?.t ?? null;
    }
    return null;
  }

  /** Inserts `nodes` right after `after` in the node list (their inputs must exist by then). */
  insertAfter(after: NodeProto, nodes: NodeProto[]): void {
    const at = this.graph.node.indexOf(after);
    if (at < 0) throw new Error(`node ${after.name} is not in the graph`);
    this.graph.node.splice(at + 1, 0, ...nodes);
    for (const n of nodes) for (const o of n.output) this.producers.set(o, n);
  }

  /**
   * Renames output `index` of `node` to a fresh name and returns it; every consumer of the old
   * name keeps reading the old name, which the caller must produce again (e.g. y = y_base + delta).
   */
  detachOutput(node: NodeProto, index = 0): { original: string; detached: string } {
    const original = node.output[index]!;
    const detached = this.fresh(`${original}__base`);
    node.output[index] = detached;
    this.producers.set(detached, node);
    this.producers.delete(original);
    return { original, detached };
  }
}

export function isDefaultDomain(node: NodeProto): boolean {
  return node.domain === '' || node.domain === 'ai.onnx';
}

export function usedNames(graph: GraphProto, into = new Set<string>()): Set<string> {
  for (const v of [...graph.input, ...graph.output, ...graph.valueInfo]) into.add(v.name);
  for (const t of graph.initializer) into.add(t.name);
  for (const n of graph.node) {
    into.add(n.name);
    for (const x of [...n.input, ...n.output]) into.add(x);
    for (const a of n.attribute) {
      if (a.g) usedNames(a.g, into);
      for (const g of a.graphs) usedNames(g, into);
    }
  }
  return into;
}

function attribute(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute.find((a) => a.name === name);
}

export function intAttr(node: NodeProto, name: string, fallback: number): number {
  const a = attribute(node, name);
  return a ? Number(a.i) : fallback;
}

export function floatAttr(node: NodeProto, name: string, fallback: number): number {
  const a = attribute(node, name);
  return a ? a.f : fallback;
}

export function intsAttr(node: NodeProto, name: string): number[] | null {
  const a = attribute(node, name);
  return a ? a.ints.map((v) => Number(v)) : null;
}

export function stringAttr(node: NodeProto, name: string): string | null {
  const a = attribute(node, name);
  return a ? new TextDecoder().decode(a.s) : null;
}

export function tensorDims(t: TensorProto): number[] {
  return t.dims.map((d) => Number(d));
}

export function entry(key: string, value: string) {
  return create(StringStringEntryProtoSchema, { key, value });
}
