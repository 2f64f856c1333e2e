import { describe, expect, it } from 'vitest';
import { EngineError, throwIfCancelled } from '../errors.js';
import { JobQueue, type QueueListener } from './queue.js';

function recorder() {
  const events: string[] = [];
  const listener: QueueListener<string> = {
    queued: (id, _kind, position) => events.push(`queued ${id} ${position}`),
    started: (id) => events.push(`started ${id}`),
    done: (id, result) => events.push(`done ${id} ${result}`),
    failed: (id, code, message) => events.push(`failed ${id} ${code} ${message}`),
    cancelled: (id) => events.push(`cancelled ${id}`),
  };
  return { events, listener };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('JobQueue', () => {
  it('runs jobs one at a time in submission order', async () => {
    const { events, listener } = recorder();
    const queue = new JobQueue<string>(listener);
    let running = 0;
    let maxRunning = 0;
    const job = (name: string) => async () => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await tick();
      running--;
      return name;
    };
    const a = queue.submit('generate', job('A'));
    const b = queue.submit('generate', job('B'));
    await queue.idle();
    expect(maxRunning).toBe(1);
    expect(events).toEqual([`queued ${a} 0`, `queued ${b} 1`, `started ${a}`, `done ${a} A`, `started ${b}`, `done ${b} B`]);
  });

  it('cancels the running job at its next check and a queued job before it starts', async () => {
    const { events, listener } = recorder();
    const queue = new JobQueue<string>(listener);
    let steps = 0;
    const a = queue.submit('generate', async (signal) => {
      for (;;) {
        throwIfCancelled(signal);
        steps++;
        await tick();
      }
    });
    let bRan = false;
    const b = queue.submit('edit', async () => {
      bRan = true;
      return 'B';
    });
    await tick();
    await tick();
    expect(queue.cancel(b)).toBe(true);
    expect(queue.cancel(a)).toBe(true);
    await queue.idle();
    expect(bRan).toBe(false);
    expect(steps).toBeGreaterThan(0);
    expect(events).toContain(`cancelled ${a}`);
    expect(events).toContain(`cancelled ${b}`);
    expect(queue.cancel(a)).toBe(false);
    expect(queue.cancel('job-unknown')).toBe(false);
  });

  it('reports a job done when the cancel came after its last check (its output exists)', async () => {
    const { events, listener } = recorder();
    const queue = new JobQueue<string>(listener);
    let release: () => void = () => undefined;
    const a = queue.submit('edit', async (signal) => {
      throwIfCancelled(signal); // the last check
      await new Promise<void>((resolve) => (release = resolve)); // saving the output
      return 'A';
    });
    await tick();
    expect(queue.cancel(a)).toBe(true);
    release();
    await queue.idle();
    expect(events).toContain(`done ${a} A`);
    expect(events).not.toContain(`cancelled ${a}`);
  });

  it('reports failures with their code and keeps running later jobs', async () => {
    const { events, listener } = recorder();
    const queue = new JobQueue<string>(listener);
    const a = queue.submit('edit', async () => {
      throw new EngineError('bad_input', 'photo.txt: not an image');
    });
    const b = queue.submit('generate', async () => {
      throw new TypeError('boom');
    });
    const c = queue.submit('generate', async () => 'C');
    await queue.idle();
    expect(events).toContain(`failed ${a} bad_input photo.txt: not an image`);
    expect(events).toContain(`failed ${b} internal boom`);
    expect(events).toContain(`done ${c} C`);
  });
});
