import { Module, type OnModuleInit } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { JOB_LOCKS } from '../scheduler/job-locks';
import { Scheduler } from '../scheduler/scheduler.service';
import { EventsController } from './events.controller';
import { EventsGateway } from './events.gateway';
import { EventsRepository } from './events.repository';
import { EventsQueryService } from './events-query.service';
import { EventsRelay } from './events-relay.service';

/** Delivery: the per-instance relay, the Socket.IO gateway, replay over REST, and retention. */
@Module({
  imports: [AuthModule],
  controllers: [EventsController],
  providers: [EventsGateway, EventsRelay, EventsQueryService],
  exports: [EventsRelay, EventsGateway],
})
export class EventsGatewayModule implements OnModuleInit {
  constructor(
    @InjectConfig() private readonly config: AppConfig,
    private readonly scheduler: Scheduler,
    private readonly events: EventsRepository,
  ) {}

  onModuleInit(): void {
    this.scheduler.register({
      kind: 'locked',
      name: 'events-retention',
      intervalMs: this.config.sweepIntervalMs,
      lockKey: JOB_LOCKS.eventsRetention,
      run: (manager) => this.events.prune(manager, this.config.eventsRetentionSec, 5000),
    });
  }
}
