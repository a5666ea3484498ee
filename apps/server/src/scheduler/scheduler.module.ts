import { Global, Module } from '@nestjs/common';
import { Scheduler } from './scheduler.service';

/** Global: every module registers its own periodic jobs. */
@Global()
@Module({ providers: [Scheduler], exports: [Scheduler] })
export class SchedulerModule {}
