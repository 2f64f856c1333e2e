/**
 * The shells' view of an engine process, whichever way it was started (Node's child_process.fork
 * for the web shell, Electron's utilityProcess for the desktop app): send, receive, exit, kill.
 */
export interface EngineProcess {
  readonly pid: number | undefined;
  send(message: unknown): void;
  onMessage(listener: (message: unknown) => void): void;
  onExit(listener: (code: number | null, signal: string | null) => void): void;
  /** Ends the process: SIGTERM-like by default, at once when `hard` (as a crash would). */
  kill(hard?: boolean): void;
}

export type EngineSpawner = () => EngineProcess;
