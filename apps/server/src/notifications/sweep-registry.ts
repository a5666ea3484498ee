import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';

/** A periodic sweep: runs in its own transaction, on one instance at a time (advisory lock `lockKey`). */
export interface Sweep {
  name: string;
  lockKey: number;
  run: (manager: EntityManager) => Promise<number>;
}

/**
 * Where modules register their sweeps for the sweeper loop (tasks.sweeper.ts), without depending
 * on the tasks module.
 */
@Injectable()
export class SweepRegistry {
  private readonly sweeps: Sweep[] = [];

  register(sweep: Sweep): void {
    this.sweeps.push(sweep);
  }

  all(): readonly Sweep[] {
    return this.sweeps;
  }
}
