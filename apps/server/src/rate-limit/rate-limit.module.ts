import { Module, type OnModuleInit } from '@nestjs/common';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { JOB_LOCKS } from '../scheduler/job-locks';
import { Scheduler } from '../scheduler/scheduler.service';
import { RateLimitMiddleware } from './rate-limit.middleware';
import { RateLimitRepository } from './rate-limit.repository';

/** The global per-principal / per-IP request budget: express middleware that configure-app installs ahead of the guard. */
@Module({
  providers: [RateLimitRepository, RateLimitMiddleware],
})
export class RateLimitModule implements OnModuleInit {
  constructor(
    @InjectConfig() private readonly config: AppConfig,
    private readonly scheduler: Scheduler,
    private readonly repository: RateLimitRepository,
  ) {}

  onModuleInit(): void {
    this.scheduler.register({
      kind: 'locked',
      name: 'rate-limit-prune',
      intervalMs: this.config.sweepIntervalMs,
      lockKey: JOB_LOCKS.rateLimitPrune,
      run: (manager) => this.repository.prune(manager),
    });
  }
}
