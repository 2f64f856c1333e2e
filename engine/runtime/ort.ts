/**
 * The single place that imports onnxruntime-node, so the rest of the engine depends on a small,
 * typed surface and tests can see which version runs.
 */
import * as ort from 'onnxruntime-node';

// ONNX Runtime logs provider load failures itself; the engine reports them as one-line notices
// (see session.ts), so its own log stays quiet unless ATELIER_ORT_LOG asks for more.
const level = process.env.ATELIER_ORT_LOG;
ort.env.logLevel = level === 'verbose' || level === 'info' || level === 'warning' || level === 'error' ? level : 'fatal';

export { ort };
export type OrtSession = ort.InferenceSession;
export type OrtTensor = ort.Tensor;
export type OrtTensorType = ort.Tensor.Type;
export type OrtFeeds = Record<string, ort.Tensor>;

export function onnxruntimeVersion(): string {
  return ort.env.versions.node ?? ort.env.versions.common;
}
