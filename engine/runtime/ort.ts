/**
 * The single place that imports onnxruntime-node, so the rest of the engine depends on a small,
 * typed surface and tests can see which version runs.
 */
import * as ort from 'onnxruntime-node';

export { ort };
export type OrtSession = ort.InferenceSession;
export type OrtTensor = ort.Tensor;
export type OrtTensorType = ort.Tensor.Type;
export type OrtFeeds = Record<string, ort.Tensor>;

export function onnxruntimeVersion(): string {
  return ort.env.versions.node ?? ort.env.versions.common;
}
