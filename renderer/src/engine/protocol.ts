/**
 * The renderer's window onto the engine protocol (engine/protocol/). The renderer shares only
 * types with the engine, so everything here is `import type`; the constants the renderer
 * needs at runtime are restated and typed with `typeof`, so a change on the engine side breaks
 * the renderer's type check instead of silently diverging.
 */
import type {
  ENGINE_PORT_MESSAGE as ProtocolPortMessage,
  MAX_MESSAGE_BYTES as ProtocolMaxMessageBytes,
  PROTOCOL_VERSION as ProtocolVersion,
} from '../../../engine/protocol/index.js';

export type {
  ActiveAdapter,
  AdapterCoverage,
  AdapterInfo,
  AdapterMode,
  AdapterSetting,
  AtelierBridge,
  ClientMessage,
  EncodedImage,
  ErrorCode,
  EventData,
  EventEnvelope,
  EventName,
  HistoryEntry,
  JobKind,
  JobMetadata,
  JobRequest,
  MethodName,
  MethodParams,
  MethodResult,
  ModelDefaults,
  ModelInfo,
  OpenedFile,
  ProviderInfo,
  ProviderName,
  RequestEnvelope,
  ResponseEnvelope,
  RpcError,
  ServerMessage,
  SliderPart,
  WatermarkKeyInfo,
  WatermarkState,
  WatermarkVerdict,
} from '../../../engine/protocol/index.js';

/** The protocol version this renderer speaks (checked against the engine's in `hello`). */
export const PROTOCOL_VERSION: typeof ProtocolVersion = 1;

/** The window message that carries the engine's MessagePort in Electron. */
export const ENGINE_PORT_MESSAGE: typeof ProtocolPortMessage = 'atelier:engine-port';

/** Largest message the engine accepts (64 MiB), used to refuse a huge image before sending. */
export const MAX_MESSAGE_BYTES: typeof ProtocolMaxMessageBytes = 67_108_864;
