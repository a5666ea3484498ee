import type { Logger } from 'pino';
import type { PgListener } from '../database/pg-listener.service';
import type { MetricsService } from '../metrics/metrics.service';
import { JOB_LOCKS } from './job-locks';
import { PeriodicRunner, type RunnerContext } from './job-runners';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function context() {
  const wakes = new Map<string, () => void>();
  const outcomes: string[] = [];
  const ctx: RunnerContext = {
    listener: {
      on: (channel: string, fn: () => void) => {
        wakes.set(channel, fn);
        return () => wakes.delete(channel);
      },
    } as unknown as PgListener,
    logger: { warn: () => undefined } as unknown as Logger,
    metrics: { jobRuns: { inc: (labels: { outcome: string }) => outcomes.push(labels.outcome) } } as unknown as MetricsService,
    databaseUrl: undefined,
  };
  return { ctx, wakes, outcomes };
}

describe('PeriodicRunner', () => {
  it('runs every interval after the previous run ended, never two at once, and on a wake', async () => {
    const { ctx, wakes, outcomes } = context();
    let running = 0;
    let most = 0;
    const runner = new PeriodicRunner({ kind: 'every-instance', name: 'j', intervalMs: 20, wake: 'am_pending', run: async () => undefined }, ctx, async () => {
      most = Math.max(most, ++running);
      await sleep(15);
      running--;
      return 'ran';
    });
    runner.start();
    wakes.get('am_pending')?.();
    wakes.get('am_pending')?.();
    while (outcomes.length < 3) await sleep(5);
    await runner.stop();
    expect(most).toBe(1);
  });

  it('stop waits for the run under way, starts no other, and a failed run is counted and retried', async () => {
    const { ctx, outcomes } = context();
    let calls = 0;
    let finished = false;
    const runner = new PeriodicRunner({ kind: 'every-instance', name: 'j', intervalMs: 5, run: async () => undefined }, ctx, async () => {
      if (++calls === 1) throw new Error('boom');
      await sleep(30);
      finished = true;
      return 'ran';
    });
    runner.start();
    while (calls < 2) await sleep(1);
    await runner.stop();
    expect(finished).toBe(true);
    const after = calls;
    await sleep(30);
    expect(calls).toBe(after);
    expect(outcomes[0]).toBe('failed');
  });
});

describe('JOB_LOCKS', () => {
  it('gives every job its own advisory-lock key', () => {
    const keys = Object.values(JOB_LOCKS);
    expect(new Set(keys).size).toBe(keys.length);
  });
});
