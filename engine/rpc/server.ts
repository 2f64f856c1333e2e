/**
 * The RPC server: validates every incoming message (envelope, method, params) against the
 * protocol schemas, calls the engine, and replies. A malformed, unknown or oversized message gets
 * an error reply and never reaches the engine; nothing a client sends can crash the process.
 * Engine events are forwarded to the transport as they happen.
 */
import type { Engine } from '../engine.js';
import { EngineError, messageOf } from '../errors.js';
import {
  MAX_MESSAGE_BYTES,
  PROTOCOL_VERSION,
  RequestEnvelope,
  methods,
  requestIdOf,
  type ErrorCode,
  type MethodName,
  type MethodResult,
  type ServerMessage,
} from '../protocol/index.js';
import { estimateSize } from './size.js';
import type { Transport } from './transport.js';
import type { z } from 'zod';

type Handlers = { [M in MethodName]: (params: z.infer<(typeof methods)[M]['params']>) => Promise<MethodResult<M>> | MethodResult<M> };

function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid';
  const where = issue.path.length > 0 ? issue.path.join('.') : '(params)';
  return `${where}: ${issue.message}`;
}

export class RpcServer {
  private readonly handlers: Handlers;

  constructor(
    engine: Engine,
    private readonly transport: Transport,
  ) {
    this.handlers = {
      hello: (p) => {
        if (p.protocol !== PROTOCOL_VERSION) {
          throw new EngineError('version_mismatch', `client speaks protocol ${p.protocol}, the engine speaks ${PROTOCOL_VERSION}`);
        }
        return engine.hello();
      },
      listModels: () => ({ models: engine.listModels() }),
      loadModel: (p) => engine.loadModel(p.modelId, p.provider),
      unloadModel: async () => ({ unloaded: await engine.unloadModel() }),
      importModel: (p) => engine.importModel(p.path),
      forgetModel: async (p) => ({ forgotten: await engine.forgetModel(p.modelId) }),
      runJob: (p) => ({ jobId: engine.submitJob(p) }),
      cancel: (p) => ({ cancelled: engine.cancel(p.jobId) }),
      listHistory: async (p) => ({ entries: await engine.listHistory(p.limit) }),
      readHistoryImage: (p) => engine.readHistoryImage(p.jobId),
      inspectAdapter: (p) => engine.inspectAdapter(p),
      setAdapters: async (p) => ({ adapters: await engine.setAdapters(p.adapters) }),
      watermarkKeys: async () => ({ keys: await engine.watermarkKeys() }),
      createWatermarkKey: (p) => engine.createWatermarkKey(p.name, p.trainingSteps),
      cancelWatermarkKey: () => ({ cancelled: engine.cancelWatermarkKey() }),
      importWatermarkKey: (p) => engine.importWatermarkKey(p.keyFile, p.lora, p.name),
      renameWatermarkKey: (p) => engine.renameWatermarkKey(p.id, p.name),
      deleteWatermarkKey: async (p) => ({ deleted: await engine.deleteWatermarkKey(p.id) }),
      watermarkState: () => engine.watermarkState(),
      setWatermark: (p) => engine.setWatermark(p.enabled, p.keyId),
      verifyWatermark: async (p) => ({ results: await engine.verifyWatermark(p.files, p.fpr) }),
      sliderParts: (p) => engine.sliderParts(p.instruction, p.parts),
    };
    engine.onEvent((event) => this.send(event));
    transport.onMessage((message) => void this.handle(message));
  }

  private send(message: ServerMessage): void {
    try {
      this.transport.send(message);
    } catch (error) {
      // The peer is gone; nothing to reply to. Keep serving.
      process.emitWarning(`rpc: could not send a message: ${messageOf(error)}`);
    }
  }

  private fail(id: number | null, code: ErrorCode, message: string): void {
    this.send({ type: 'response', id, ok: false, error: { code, message } });
  }

  async handle(raw: unknown): Promise<void> {
    const rawId = requestIdOf(raw);
    if (estimateSize(raw, MAX_MESSAGE_BYTES) > MAX_MESSAGE_BYTES) {
      this.fail(rawId, 'too_large', `message larger than ${MAX_MESSAGE_BYTES} bytes`);
      return;
    }
    const envelope = RequestEnvelope.safeParse(raw);
    if (!envelope.success) {
      this.fail(rawId, 'bad_request', `malformed request: ${describeIssue(envelope.error)}`);
      return;
    }
    const { id, method } = envelope.data;
    if (!Object.hasOwn(methods, method)) {
      this.fail(id, 'unknown_method', `unknown method "${method}"`);
      return;
    }
    const name = method as MethodName;
    const params = methods[name].params.safeParse(envelope.data.params ?? {});
    if (!params.success) {
      this.fail(id, 'invalid_params', `${name}: ${describeIssue(params.error)}`);
      return;
    }
    try {
      const handler = this.handlers[name] as (p: unknown) => Promise<unknown> | unknown;
      const result = await handler(params.data);
      this.send({ type: 'response', id, ok: true, result } as ServerMessage);
    } catch (error) {
      if (error instanceof EngineError) this.fail(id, error.code, error.message);
      else this.fail(id, 'internal', `${name} failed: ${messageOf(error)}`);
    }
  }
}
