import { describe, expect, it, vi } from 'vitest';
import type { EngineProcess } from './engine-process.js';
import { EngineSupervisor } from './supervisor.js';

class FakeProcess implements EngineProcess {
  static count = 0;
  readonly pid = ++FakeProcess.count;
  sent: unknown[] = [];
  private messageListener: ((m: unknown) => void) | null = null;
  private exitListener: ((code: number | null, signal: string | null) => void) | null = null;
  send(message: unknown) {
    this.sent.push(message);
  }
  onMessage(l: (m: unknown) => void) {
    this.messageListener = l;
  }
  onExit(l: (code: number | null, signal: string | null) => void) {
    this.exitListener = l;
  }
  kill() {
    this.exitListener?.(null, 'SIGKILL');
  }
  emit(m: unknown) {
    this.messageListener?.(m);
  }
  crash(code: number) {
    this.exitListener?.(code, null);
  }
}

describe('EngineSupervisor', () => {
  it('restarts a crashed engine, at once the first time and with growing delays after', () => {
    vi.useFakeTimers();
    const processes: FakeProcess[] = [];
    const exits: number[] = [];
    const messages: unknown[] = [];
    const supervisor = new EngineSupervisor(
      () => {
        const p = new FakeProcess();
        processes.push(p);
        return p;
      },
      { message: (m) => messages.push(m), exited: (i) => exits.push(i.restartInMs), started: () => {} },
    );
    supervisor.start();
    expect(supervisor.send('a')).toBe(true);
    processes[0]!.emit('from-0');
    processes[0]!.crash(1);
    expect(supervisor.running).toBe(false);
    expect(supervisor.send('lost')).toBe(false);
    vi.advanceTimersByTime(0);
    expect(processes).toHaveLength(2);
    processes[1]!.crash(1);
    vi.advanceTimersByTime(exits[1]!);
    expect(processes).toHaveLength(3);
    expect(exits[0]).toBe(0);
    expect(exits[1]).toBeGreaterThan(0);
    expect(messages).toEqual(['from-0']);
    supervisor.stop();
    processes[2]!.crash(0);
    vi.advanceTimersByTime(60_000);
    expect(processes).toHaveLength(3);
    vi.useRealTimers();
  });
});
