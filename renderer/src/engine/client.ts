/**
 * EngineClient: the one typed interface the UI uses to talk to the engine, whatever carries the
 * messages. It numbers requests and matches replies to them, applies per-method timeouts,
 * dispatches events, and keeps a connection state (connecting / connected / reconnecting /
 * disconnected). When the connection drops it rejects every pending call with a clear error and
 * reconnects with exponential backoff; the app listens for 'connected' and re-syncs.
 */
import { EngineCallError, messageOf } from './errors.js';
import type { EventData, EventName, MethodName, MethodParams, MethodResult, RequestEnvelope } from './protocol.js';
import type { Connection, Transport } from './transport.js';

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'disconnected';

export interface ConnectionStatus {
  state: ConnectionState;
  /** The transport's name ('websocket', 'message-port'). */
  transport: string;
  /** Failed attempts since the last successful connection. */
  failures: number;
  /** While reconnecting: milliseconds until the next attempt, or null while one is under way. */
  retryInMs: number | null;
  /** Why the last connection ended or the last attempt failed. */
  lastError: string | null;
}

export interface CallOptions {
  /** Milliseconds to wait for the reply; 0 waits forever. Defaults per method. */
  timeoutMs?: number;
}

export type Unsubscribe = () => void;

export interface EngineClient {
  readonly status: ConnectionStatus;
  /** Calls an engine method; rejects with an EngineCallError carrying `code`. */
  call<M extends MethodName>(method: M, params: MethodParams<M>, options?: CallOptions): Promise<MethodResult<M>>;
  /** Listens for an engine event; returns a function that stops listening. */
  on<E extends EventName>(event: E, handler: (data: EventData<E>) => void): Unsubscribe;
  /** Listens for connection state changes (called with the new status). */
  onStatus(handler: (status: ConnectionStatus) => void): Unsubscribe;
  /** Starts connecting (idempotent). */
  start(): void;
  /** Closes the connection for good; pending calls reject with code 'closed'. */
  close(): void;
}

export interface BackoffOptions {
  /** First retry delay. */
  initialMs: number;
  /** Longest retry delay. */
  maxMs: number;
  /** Random spread as a fraction of the delay (0.2: +-20%). */
  jitter: number;
}

export interface RpcClientOptions {
  backoff?: Partial<BackoffOptions>;
  /** How long one connection attempt may take. */
  connectTimeoutMs?: number;
  /** Default reply timeout for methods without their own. */
  defaultTimeoutMs?: number;
}

/**
 * Reply timeouts per method. Loading a model can take minutes for a large one, so it waits
 * forever; the connection state still ends it if the engine goes away.
 */
const METHOD_TIMEOUTS: Partial<Record<MethodName, number>> = {
  hello: 15_000,
  loadModel: 0,
  unloadModel: 120_000,
  readHistoryImage: 60_000,
};

const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 250, maxMs: 5_000, jitter: 0.2 };

interface PendingCall {
  method: MethodName;
  resolve(result: unknown): void;
  reject(error: EngineCallError): void;
  timer: ReturnType<typeof setTimeout> | null;
}

type Listener = (data: unknown) => void;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

export class RpcClient implements EngineClient {
  private readonly backoff: BackoffOptions;
  private readonly connectTimeoutMs: number;
  private readonly defaultTimeoutMs: number;
  private readonly pending = new Map<number, PendingCall>();
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly statusListeners = new Set<(status: ConnectionStatus) => void>();
  private connection: Connection | null = null;
  private nextId = 1;
  /** Bumped on every attempt; callbacks from an older connection are ignored. */
  private generation = 0;
  private everConnected = false;
  private started = false;
  private closed = false;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private current: ConnectionStatus;

  constructor(
    private readonly transport: Transport,
    options: RpcClientOptions = {},
  ) {
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.defaultTimeoutMs = options.defaultTimeoutMs ?? 30_000;
    this.current = { state: 'connecting', transport: transport.name, failures: 0, retryInMs: null, lastError: null };
  }

  get status(): ConnectionStatus {
    return this.current;
  }

  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    void this.attempt();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.generation++;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const connection = this.connection;
    this.connection = null;
    connection?.close();
    this.rejectAll('closed', 'the engine connection was closed');
    this.setStatus({ state: 'disconnected', retryInMs: null });
  }

  call<M extends MethodName>(method: M, params: MethodParams<M>, options: CallOptions = {}): Promise<MethodResult<M>> {
    const connection = this.connection;
    if (this.closed) return Promise.reject(new EngineCallError('closed', `${method}: the engine connection was closed`, method));
    if (!connection) {
      return Promise.reject(new EngineCallError('not_connected', `${method}: not connected to the engine (${this.current.state})`, method));
    }
    const id = this.nextId++;
    const request: RequestEnvelope = { type: 'request', id, method, params };
    return new Promise<MethodResult<M>>((resolve, reject) => {
      const timeoutMs = options.timeoutMs ?? METHOD_TIMEOUTS[method] ?? this.defaultTimeoutMs;
      const entry: PendingCall = {
        method,
        resolve: (result) => resolve(result as MethodResult<M>),
        reject,
        timer: null,
      };
      if (timeoutMs > 0) {
        entry.timer = setTimeout(() => {
          this.pending.delete(id);
          reject(new EngineCallError('timeout', `${method}: the engine did not reply within ${Math.round(timeoutMs / 1000)} s`, method));
        }, timeoutMs);
      }
      this.pending.set(id, entry);
      try {
        connection.send(request);
      } catch (error) {
        this.settle(id);
        reject(new EngineCallError('send_failed', `${method}: could not send the request: ${messageOf(error)}`, method));
      }
    });
  }

  on<E extends EventName>(event: E, handler: (data: EventData<E>) => void): Unsubscribe {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    const listener = handler as Listener;
    set.add(listener);
    return () => set.delete(listener);
  }

  onStatus(handler: (status: ConnectionStatus) => void): Unsubscribe {
    this.statusListeners.add(handler);
    return () => this.statusListeners.delete(handler);
  }

  // -------------------------------------------------------------------------------------------
  // Connection lifecycle

  private async attempt(): Promise<void> {
    this.retryTimer = null;
    const generation = ++this.generation;
    this.setStatus({ state: this.everConnected || this.current.failures > 0 ? 'reconnecting' : 'connecting', retryInMs: null });
    let timer: ReturnType<typeof setTimeout> | null = null;
    const opening = this.transport.open({
      message: (message) => {
        if (generation === this.generation) this.receive(message);
      },
      close: (reason) => {
        if (generation === this.generation) this.lost(reason);
      },
    });
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no connection within ${Math.round(this.connectTimeoutMs / 1000)} s`)), this.connectTimeoutMs);
    });
    try {
      const connection = await Promise.race([opening, timeout]);
      if (generation !== this.generation || this.closed) {
        connection.close();
        return;
      }
      this.connection = connection;
      this.everConnected = true;
      this.setStatus({ state: 'connected', failures: 0, retryInMs: null });
    } catch (error) {
      // A connection that opens after its attempt timed out is closed unused.
      opening.then((late) => late.close()).catch(() => undefined);
      if (generation !== this.generation || this.closed) return;
      this.scheduleRetry(messageOf(error));
    } finally {
      if (timer !== null) clearTimeout(timer);
    }
  }

  private lost(reason: string): void {
    this.connection = null;
    this.generation++;
    this.rejectAll('connection_lost', `the connection to the engine was lost (${reason})`);
    this.scheduleRetry(reason);
  }

  private scheduleRetry(reason: string): void {
    if (this.closed) return;
    const failures = this.current.failures;
    const base = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** failures);
    const delay = Math.max(0, Math.round(base * (1 + (Math.random() * 2 - 1) * this.backoff.jitter)));
    this.setStatus({ state: 'reconnecting', failures: failures + 1, retryInMs: delay, lastError: reason });
    this.retryTimer = setTimeout(() => void this.attempt(), delay);
  }

  private setStatus(change: Partial<ConnectionStatus>): void {
    this.current = { ...this.current, ...change };
    for (const handler of [...this.statusListeners]) {
      try {
        handler(this.current);
      } catch (error) {
        console.error('engine client: a status listener threw', error);
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // Messages

  private receive(message: unknown): void {
    if (!isRecord(message)) return;
    if (message.type === 'response') this.receiveResponse(message);
    else if (message.type === 'event' && typeof message.event === 'string') this.dispatch(message.event, message.data);
  }

  private receiveResponse(message: Record<string, unknown>): void {
    const id = message.id;
    if (typeof id !== 'number') {
      // An error reply to a request the engine could not read (id null): nothing to match.
      const error = isRecord(message.error) ? String(message.error.message) : 'unknown error';
      console.warn(`engine client: the engine rejected a message: ${error}`);
      return;
    }
    const entry = this.settle(id);
    if (!entry) return; // timed out or from before a reconnect
    if (message.ok === true) {
      entry.resolve(message.result);
      return;
    }
    const error = isRecord(message.error) ? message.error : {};
    const code = typeof error.code === 'string' ? error.code : 'internal';
    const text = typeof error.message === 'string' ? error.message : `${entry.method} failed`;
    entry.reject(new EngineCallError(code as EngineCallError['code'], text, entry.method));
  }

  private dispatch(event: string, data: unknown): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        listener(data);
      } catch (error) {
        console.error(`engine client: a "${event}" listener threw`, error);
      }
    }
  }

  private settle(id: number): PendingCall | undefined {
    const entry = this.pending.get(id);
    if (!entry) return undefined;
    this.pending.delete(id);
    if (entry.timer !== null) clearTimeout(entry.timer);
    return entry;
  }

  private rejectAll(code: 'connection_lost' | 'closed', reason: string): void {
    const entries = [...this.pending.values()];
    this.pending.clear();
    for (const entry of entries) {
      if (entry.timer !== null) clearTimeout(entry.timer);
      entry.reject(new EngineCallError(code, `${entry.method}: ${reason}; the call did not complete`, entry.method));
    }
  }
}
