import { Module, type OnModuleInit } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { SweepRegistry } from '../notifications/sweep-registry';
import { EventsController } from './events.controller';
import { EventsGateway } from './events.gateway';
import { EventsQueryService } from './events-query.service';
import { EventsRelay } from './events-relay.service';
import { EventsRepository } from './events.repository';

const RETENTION_SWEEP_KEY = 7_316_106;

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
    private readonly sweeps: SweepRegistry,
    private readonly events: EventsRepository,
  ) {}

  onModuleInit(): void {
    this.sweeps.register({
      name: 'events-retention',
      lockKey: RETENTION_SWEEP_KEY,
      run: (manager) => this.events.prune(manager, this.config.eventsRetentionSec, 5000),
    });
  }
}
