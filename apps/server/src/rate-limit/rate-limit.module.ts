import { Module, type OnModuleInit } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { SweepRegistry } from '../notifications/sweep-registry';
import { RateLimitInterceptor } from './rate-limit.interceptor';
import { RateLimitRepository } from './rate-limit.repository';

const PRUNE_SWEEP_KEY = 7_316_120;

/** The global per-principal / per-IP request budget (an interceptor, so it runs after authentication). */
@Module({
  providers: [RateLimitRepository, { provide: APP_INTERCEPTOR, useClass: RateLimitInterceptor }],
})
export class RateLimitModule implements OnModuleInit {
  constructor(
    private readonly sweeps: SweepRegistry,
    private readonly repository: RateLimitRepository,
  ) {}

  onModuleInit(): void {
    this.sweeps.register({ name: 'rate-limit-prune', lockKey: PRUNE_SWEEP_KEY, run: (manager) => this.repository.prune(manager) });
  }
}
