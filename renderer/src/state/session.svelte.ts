/**
 * What the UI knows about the engine: the connection status, the facts `hello` reports
 * (versions, providers), the model catalog and the loaded model with its provider.
 */
import type { ConnectionStatus } from '../engine/client.js';
import type { MethodResult, ModelInfo, ProviderInfo, ProviderName } from '../engine/protocol.js';

export interface EngineFacts {
  engineVersion: string;
  onnxruntimeVersion: string;
  platform: string;
  providers: ProviderInfo[];
}

export class Session {
  connection = $state.raw<ConnectionStatus>({ state: 'connecting', transport: '', failures: 0, retryInMs: null, lastError: null });
  engine = $state.raw<EngineFacts | null>(null);
  models = $state.raw<ModelInfo[]>([]);
  model = $state.raw<ModelInfo | null>(null);
  provider = $state<ProviderName | null>(null);
  /** The id of the model being loaded, or null. */
  loadingModelId = $state<string | null>(null);
  /** A problem that stops the app from working with this engine (protocol mismatch). */
  fatal = $state<string | null>(null);

  get connected(): boolean {
    return this.connection.state === 'connected';
  }

  /** Connected, compatible and with a model loaded and not loading another. */
  get ready(): boolean {
    return this.connected && this.fatal === null && this.model !== null && this.loadingModelId === null;
  }

  setHello(hello: MethodResult<'hello'>): void {
    this.engine = {
      engineVersion: hello.engineVersion,
      onnxruntimeVersion: hello.onnxruntimeVersion,
      platform: hello.platform,
      providers: hello.providers,
    };
  }

  setModel(model: ModelInfo | null, provider: ProviderName | null): void {
    this.model = model;
    this.provider = provider;
  }

  /** The model to load when none is: the embedded one. */
  get defaultModel(): ModelInfo | null {
    return this.models.find((m) => m.embedded) ?? null;
  }
}
