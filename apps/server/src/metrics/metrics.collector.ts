import { Injectable } from '@nestjs/common';
import { MetricsRepository } from './metrics.repository';
import { MetricsService } from './metrics.service';

/** Fills the scrape-time gauges: one database query, then the hooks modules registered for their in-memory state. */
@Injectable()
export class MetricsCollector {
  constructor(
    private readonly metrics: MetricsService,
    private readonly repository: MetricsRepository,
  ) {}

  async render(): Promise<string> {
    const rows = await this.repository.gauges();
    const m = this.metrics;
    m.tasks.reset();
    m.agents.reset();
    m.activeLocks.set(0);
    let eventsHeadSeq = 0;
    for (const row of rows) {
      const n = Number(row.n);
      if (row.kind === 'task') m.tasks.set({ status: row.status ?? '', type: row.type ?? '' }, n);
      else if (row.kind === 'agent') m.agents.set({ status: row.status ?? '' }, n);
      else if (row.kind === 'locks') m.activeLocks.set(n);
      else eventsHeadSeq = n;
    }
    m.runScrapeHooks({ eventsHeadSeq });
    return m.registry.metrics();
  }
}
