/**
 * ONNX reading and writing keeps everything: models of IR versions 8, 9 and 10 carrying the fields
 * their versions added (float8 and 4-bit initializers, node metadata_props, function overloads,
 * graph metadata) re-serialize to the same bytes; and fields no schema knows (crafted as raw
 * protobuf in the model, the graph and a node) survive parsing, re-writing, and the adapters'
 * graph surgery.
 */
import { clone, create, toBinary } from '@bufbuild/protobuf';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { FunctionProtoSchema, GraphProtoSchema, ModelProtoSchema, NodeProtoSchema, StringStringEntryProtoSchema, TensorProtoSchema } from 'onnx-buf';
import { describe, expect, it } from 'vitest';
import { DataType, buildModel, floatTensor, node, parseModel, serializeModel, valueInfo, type ModelProto } from './proto.js';
import { tempDir } from '../testing/models.js';
import { encodeSafetensors } from '../adapters/safetensors.js';
import { loadAdapterFile } from '../adapters/loaded.js';
import { planGraph } from '../adapters/stack.js';
import { readFileSync } from 'node:fs';

const entry = (key: string, value: string) => create(StringStringEntryProtoSchema, { key, value });

function model(irVersion: number): ModelProto {
  const m = buildModel({
    irVersion,
    opset: irVersion >= 10 ? 21 : irVersion === 9 ? 19 : 17,
    inputs: [valueInfo('x', DataType.FLOAT, ['batch', 4])],
    outputs: [valueInfo('y', DataType.FLOAT, ['batch', 4])],
    nodes: [node('MatMul', ['x', 'w'], ['y'], '/layer/MatMul')],
    initializers: [floatTensor('w', [4, 4], Float32Array.from({ length: 16 }, (_, i) => i / 16))],
  });
  m.metadataProps = [entry('author', 'atelier')];
  if (irVersion >= 9) {
    m.graph!.initializer.push(create(TensorProtoSchema, { name: 'f8', dims: [4n], dataType: DataType.FLOAT8E4M3FN, rawData: Uint8Array.of(1, 2, 3, 4) }));
  }
  if (irVersion >= 10) {
    m.graph!.initializer.push(create(TensorProtoSchema, { name: 'u4', dims: [4n], dataType: DataType.UINT4, rawData: Uint8Array.of(0x21, 0x43) }));
    m.graph!.node[0]!.metadataProps = [entry('origin', 'torch')];
    m.graph!.metadataProps = [entry('graph-note', 'x')];
    m.functions = [create(FunctionProtoSchema, { name: 'f', domain: 'custom', overload: 'v2', input: ['a'], output: ['b'], node: [create(NodeProtoSchema, { opType: 'Identity', input: ['a'], output: ['b'] })] })];
    m.graph!.node[0]!.overload = '';
  }
  return m;
}

/** protobuf: a length-delimited field (wire type 2) with the given payload. */
function field(no: number, payload: Uint8Array): Uint8Array {
  const varint = (v: number) => {
    const out: number[] = [];
    while (v > 127) {
      out.push((v & 127) | 128);
      v >>>= 7;
    }
    out.push(v);
    return out;
  };
  return Uint8Array.from([...varint((no << 3) | 2), ...varint(payload.length), ...payload]);
}

const cat = (...parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((p) => [...p]));
const UNKNOWN = new TextEncoder().encode('a field from a future schema');

/** A model with unknown fields 999 (model), 998 (graph) and 997 (its node), written as raw protobuf. */
function withUnknownFields(): Uint8Array {
  const m = model(8);
  const nodeBytes = cat(toBinary(NodeProtoSchema, m.graph!.node[0]!), field(997, UNKNOWN));
  const graph = clone(GraphProtoSchema, m.graph!);
  graph.node = [];
  const graphBytes = cat(field(1, nodeBytes), toBinary(GraphProtoSchema, graph), field(998, UNKNOWN));
  const rest = clone(ModelProtoSchema, m);
  rest.graph = undefined;
  return cat(toBinary(ModelProtoSchema, rest), field(7, graphBytes), field(999, UNKNOWN));
}

function unknownNumbers(m: ModelProto): number[] {
  const of = (x: { $unknown?: Array<{ no: number }> }) => (x.$unknown ?? []).map((u) => u.no);
  return [...of(m), ...of(m.graph!), ...m.graph!.node.flatMap(of)];
}

function occurrences(haystack: Uint8Array, needle: Uint8Array): number {
  let n = 0;
  for (let i = Buffer.from(haystack).indexOf(Buffer.from(needle)); i >= 0; i = Buffer.from(haystack).indexOf(Buffer.from(needle), i + 1)) n++;
  return n;
}

describe('ONNX round trip', () => {
  it.each([8, 9, 10])('IR %i: parse and re-serialize give the same bytes, new fields included', (ir) => {
    const bytes = serializeModel(model(ir));
    const again = serializeModel(parseModel(bytes, `ir${ir}.onnx`));
    expect(Buffer.from(again).equals(Buffer.from(bytes))).toBe(true);
    const parsed = parseModel(again, 'x');
    expect(Number(parsed.irVersion)).toBe(ir);
    if (ir >= 10) {
      expect(parsed.graph!.node[0]!.metadataProps.map((e) => e.key)).toEqual(['origin']);
      expect(parsed.functions[0]!.overload).toBe('v2');
    }
  });

  it('fields no schema knows (model, graph, node) survive parsing, writing and adapter surgery', async () => {
    const bytes = withUnknownFields();
    const parsed = parseModel(bytes, 'unknown.onnx');
    expect(unknownNumbers(parsed)).toEqual([999, 998, 997]);
    const again = serializeModel(parsed);
    expect(occurrences(again, UNKNOWN)).toBe(3);
    expect(unknownNumbers(parseModel(again, 'again.onnx'))).toEqual([999, 998, 997]);

    const dir = tempDir();
    const source = path.join(dir, 'model.onnx');
    writeFileSync(source, bytes);
    const lora = path.join(dir, 'lora.safetensors');
    writeFileSync(lora, encodeSafetensors([{ name: 'layer.lora_A.weight', dtype: 'F32', shape: [1, 4], data: Float32Array.of(1, 0, 0, 0) }, { name: 'layer.lora_B.weight', dtype: 'F32', shape: [4, 1], data: Float32Array.of(0, 1, 0, 0) }]));
    const loaded = await loadAdapterFile(lora);
    for (const mode of ['bake', 'live'] as const) {
      const plan = await planGraph(source, 'denoiser', [{ loaded, weight: 1, mode, perToken: false }], tempDir());
      const out = parseModel(new Uint8Array(readFileSync(plan!.file)), plan!.file);
      const layer = out.graph!.node.find((n) => n.name === '/layer/MatMul')!;
      expect([...(out.$unknown ?? []), ...(out.graph!.$unknown ?? []), ...(layer.$unknown ?? [])].map((u) => u.no)).toEqual([999, 998, 997]);
      expect(out.metadataProps.map((e) => e.key)).toEqual(['author']);
    }
  });
});
