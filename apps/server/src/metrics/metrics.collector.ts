import { Injectable } from '@nestjs/common';
import { EventsGateway } from '../events/events.gateway';
import { EventsRelay } from '../events/events-relay.service';
import { MetricsRepository } from './metrics.repository';
import { MetricsService } from './metrics.service';

/** Fills the scrape-time gauges: one database query plus this instance's in-memory state. */
@Injectable()
export class MetricsCollector {
  constructor(
    private readonly metrics: MetricsService,
    private readonly repository: MetricsRepository,
    private readonly gateway: EventsGateway,
    private readonly relay: EventsRelay,
  ) {}

  async render(): Promise<string> {
    const rows = await this.repository.gauges();
    const m = this.metrics;
    m.tasks.reset();
    m.agents.reset();
    m.activeLocks.set(0);
    for (const row of rows) {
      const n = Number(row.n);
      if (row.kind === 'task') m.tasks.set({ status: row.status ?? '', type: row.type ?? '' }, n);
      else if (row.kind === 'agent') m.agents.set({ status: row.status ?? '' }, n);
      else if (row.kind === 'locks') m.activeLocks.set(n);
      else m.outboxLag.set(Math.max(0, n - Number(this.relay.position)));
    }
    m.sockets.set(this.gateway.connected);
    return m.registry.metrics();
  }
}
