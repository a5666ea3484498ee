import { Global, Module } from '@nestjs/common';
import { EventsGatewayModule } from '../events/events-gateway.module';
import { MetricsCollector } from './metrics.collector';
import { MetricsController } from './metrics.controller';
import { MetricsRepository } from './metrics.repository';
import { MetricsService } from './metrics.service';

/** GET /metrics; MetricsService is global so any service can count with one line. */
@Global()
@Module({
  imports: [EventsGatewayModule],
  controllers: [MetricsController],
  providers: [MetricsService, MetricsRepository, MetricsCollector],
  exports: [MetricsService],
})
export class MetricsModule {}
