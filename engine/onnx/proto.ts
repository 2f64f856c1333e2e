/**
 * ONNX protobuf reading and writing on onnx-buf (ONNX 1.20's onnx.proto compiled for
 * @bufbuild/protobuf), which keeps fields it does not know when a model is re-written, so models
 * of newer IR versions round-trip without losing anything.
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  TensorProtoSchema,
  TensorProto_DataType,
  TensorShapeProtoSchema,
  TensorShapeProto_DimensionSchema,
  TypeProtoSchema,
  TypeProto_TensorSchema,
  ValueInfoProtoSchema,
  AttributeProtoSchema,
  AttributeProto_AttributeType,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
  type AttributeProto,
} from 'onnx-buf';
import { EngineError, messageOf } from '../errors.js';

export { TensorProto_DataType as DataType };
export type { ModelProto, NodeProto, TensorProto, ValueInfoProto };

export function parseModel(bytes: Uint8Array, name: string): ModelProto {
  try {
    return fromBinary(ModelProtoSchema, bytes);
  } catch (error) {
    throw new EngineError('model_error', `${name}: not a valid ONNX file (${messageOf(error)})`);
  }
}

export function serializeModel(model: ModelProto): Uint8Array {
  return toBinary(ModelProtoSchema, model);
}

export type Dim = number | string;

export function valueInfo(name: string, elemType: TensorProto_DataType, dims: Dim[]): ValueInfoProto {
  return create(ValueInfoProtoSchema, {
    name,
    type: create(TypeProtoSchema, {
      value: {
        case: 'tensorType',
        value: create(TypeProto_TensorSchema, {
          elemType,
          shape: create(TensorShapeProtoSchema, {
            dim: dims.map((d) =>
              create(TensorShapeProto_DimensionSchema, {
                value: typeof d === 'number' ? { case: 'dimValue', value: BigInt(d) } : { case: 'dimParam', value: d },
              }),
            ),
          }),
        }),
      },
    }),
  });
}

export function floatTensor(name: string, dims: number[], values: Float32Array): TensorProto {
  return create(TensorProtoSchema, {
    name,
    dims: dims.map((d) => BigInt(d)),
    dataType: TensorProto_DataType.FLOAT,
    rawData: new Uint8Array(Float32Array.from(values).buffer),
  });
}

export function intAttribute(name: string, value: number): AttributeProto {
  return create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.INT, i: BigInt(value) });
}

export function intsAttribute(name: string, values: number[]): AttributeProto {
  return create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.INTS, ints: values.map((v) => BigInt(v)) });
}

export function node(opType: string, inputs: string[], outputs: string[], name: string, attribute: AttributeProto[] = []): NodeProto {
  return create(NodeProtoSchema, { opType, input: inputs, output: outputs, name, attribute });
}

export interface ModelSpec {
  inputs: ValueInfoProto[];
  outputs: ValueInfoProto[];
  nodes: NodeProto[];
  initializers?: TensorProto[];
  opset?: number;
  irVersion?: number;
  producer?: string;
}

export function buildModel(spec: ModelSpec): ModelProto {
  return create(ModelProtoSchema, {
    irVersion: BigInt(spec.irVersion ?? 8),
    producerName: spec.producer ?? 'atelier',
    opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: BigInt(spec.opset ?? 17) })],
    graph: create(GraphProtoSchema, {
      name: 'graph',
      input: spec.inputs,
      output: spec.outputs,
      node: spec.nodes,
      initializer: spec.initializers ?? [],
    }),
  });
}
