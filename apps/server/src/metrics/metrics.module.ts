import { Global, Module } from '@nestjs/common';
import { MetricsCollector } from './metrics.collector';
import { MetricsController } from './metrics.controller';
import { MetricsRepository } from './metrics.repository';
import { MetricsService } from './metrics.service';

/** GET /metrics; MetricsService is global so any service can count with one line. */
@Global()
@Module({
  controllers: [MetricsController],
  providers: [MetricsService, MetricsRepository, MetricsCollector],
  exports: [MetricsService],
})
export class MetricsModule {}
