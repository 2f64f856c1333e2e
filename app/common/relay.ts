/**
 * Connects any number of clients (browser tabs, a window) to the one engine process. Requests
 * get relay-unique ids on the way in and their own ids back on the way out; events go to every
 * client. The relay checks only the envelope (the engine validates params); it tracks which jobs
 * are in flight so that, when the engine process dies, it can fail the requests and jobs the dead
 * process took with it instead of leaving clients waiting forever.
 */
import {
  RequestEnvelope,
  requestIdOf,
  type ErrorCode,
  type EventData,
  type EventEnvelope,
  type EventName,
  type ServerMessage,
} from '../../engine/protocol/index.js';

export interface RelayClient {
  send(message: ServerMessage): void;
}

export interface RelayTarget {
  /** Sends to the engine; false when no engine process is running right now. */
  send(message: unknown): boolean;
}

interface Pending {
  client: RelayClient;
  id: number;
  method: string;
}

export class RpcRelay {
  private readonly clients = new Set<RelayClient>();
  private readonly pending = new Map<number, Pending>();
  private readonly jobs = new Set<string>();
  private nextId = 1;

  constructor(private readonly engine: RelayTarget) {}

  attach(client: RelayClient): { receive(message: unknown): void; detach(): void } {
    this.clients.add(client);
    return {
      receive: (message) => this.fromClient(client, message),
      detach: () => {
        this.clients.delete(client);
        for (const [relayId, p] of this.pending) if (p.client === client) this.pending.delete(relayId);
      },
    };
  }

  get clientCount(): number {
    return this.clients.size;
  }

  /** Jobs the engine accepted that have not ended yet. */
  get jobsInFlight(): string[] {
    return [...this.jobs];
  }

  private reply(client: RelayClient, id: number | null, code: ErrorCode, message: string): void {
    client.send({ type: 'response', id, ok: false, error: { code, message } });
  }

  private fromClient(client: RelayClient, message: unknown): void {
    const envelope = RequestEnvelope.safeParse(message);
    if (!envelope.success) {
      const id = requestIdOf(message);
      const issue = envelope.error.issues[0];
      this.reply(client, id, 'bad_request', `malformed request: ${issue ? `${issue.path.join('.') || '(message)'}: ${issue.message}` : 'invalid'}`);
      return;
    }
    const relayId = this.nextId++;
    this.pending.set(relayId, { client, id: envelope.data.id, method: envelope.data.method });
    if (!this.engine.send({ ...envelope.data, id: relayId })) {
      this.pending.delete(relayId);
      this.reply(client, envelope.data.id, 'engine_restarted', 'the engine is restarting; try again in a moment');
    }
  }

  /** A message from the engine process. */
  fromEngine(message: unknown): void {
    if (typeof message !== 'object' || message === null || !('type' in message)) return;
    const m = message as ServerMessage;
    if (m.type === 'response') {
      if (m.id === null) return; // the relay validated the envelope, so the engine always knows the id
      const pending = this.pending.get(m.id);
      if (!pending) return;
      this.pending.delete(m.id);
      pending.client.send({ ...m, id: pending.id } as ServerMessage);
      return;
    }
    this.track(m);
    for (const client of this.clients) client.send(m);
  }

  private track(event: EventEnvelope): void {
    switch (event.event) {
      case 'jobQueued':
      case 'jobStarted':
        this.jobs.add(event.data.jobId);
        break;
      case 'jobDone':
      case 'jobFailed':
      case 'jobCancelled':
        this.jobs.delete(event.data.jobId);
        break;
      default:
        break;
    }
  }

  private broadcast<E extends EventName>(event: E, data: EventData<E>): void {
    const envelope = { type: 'event', event, data } as EventEnvelope;
    for (const client of this.clients) client.send(envelope);
  }

  /** The engine process died: fail what it took with it and say what happened. */
  engineExited(info: { code: number | null; signal: string | null; restartInMs: number }): void {
    const how = info.signal ? `was killed (${info.signal})` : `exited with code ${info.code}`;
    const message = `the engine process ${how}; it is being restarted`;
    for (const [relayId, p] of this.pending) {
      this.pending.delete(relayId);
      this.reply(p.client, p.id, 'engine_restarted', `${p.method}: ${message}`);
    }
    for (const jobId of this.jobs) this.broadcast('jobFailed', { jobId, code: 'engine_restarted', message: `job lost: ${message}` });
    this.jobs.clear();
    this.broadcast('modelChanged', { model: null, provider: null });
    this.broadcast('log', { level: 'error', message, time: new Date().toISOString() });
  }
}
