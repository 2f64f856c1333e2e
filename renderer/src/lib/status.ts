/** The words and colour of the engine status dot in the top bar, from the connection and the app state. */
import type { ConnectionStatus } from '../engine/client.js';
import type { JobPhase } from '../state/job.svelte.js';

export type StatusTone = 'ok' | 'busy' | 'warn' | 'error';

export interface StatusInput {
  connection: ConnectionStatus;
  fatal: string | null;
  loadingModel: string | null;
  hasModel: boolean;
  jobPhase: JobPhase;
}

export interface StatusView {
  tone: StatusTone;
  text: string;
  /** Longer explanation for the tooltip. */
  detail: string;
}

export function describeStatus(input: StatusInput): StatusView {
  const { connection } = input;
  const last = connection.lastError ? `Last error: ${connection.lastError}` : '';
  switch (connection.state) {
    case 'connecting':
      return { tone: 'busy', text: 'Connecting…', detail: `Connecting to the engine (${connection.transport}).` };
    case 'reconnecting': {
      const wait = connection.retryInMs !== null ? ` in ${Math.max(1, Math.ceil(connection.retryInMs / 1000))} s` : '';
      return { tone: 'warn', text: `Reconnecting${wait}…`, detail: `The engine connection dropped. ${last}`.trim() };
    }
    case 'disconnected':
      return { tone: 'error', text: 'Disconnected', detail: `Not connected to the engine. ${last}`.trim() };
    case 'connected':
      break;
  }
  if (input.fatal) return { tone: 'error', text: 'Incompatible engine', detail: input.fatal };
  if (input.loadingModel) return { tone: 'busy', text: 'Loading model…', detail: `Loading ${input.loadingModel}.` };
  if (input.jobPhase === 'queued') return { tone: 'busy', text: 'Queued', detail: 'The job waits for the engine.' };
  if (input.jobPhase !== 'idle') return { tone: 'busy', text: 'Running', detail: 'The engine is running a job.' };
  if (!input.hasModel) return { tone: 'warn', text: 'No model', detail: 'Connected; no model is loaded.' };
  return { tone: 'ok', text: 'Ready', detail: 'Connected to the engine.' };
}
