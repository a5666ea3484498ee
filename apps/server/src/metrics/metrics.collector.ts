import { Injectable } from '@nestjs/common';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { type GaugeRow, MetricsRepository } from './metrics.repository';
import { MetricsService } from './metrics.service';

/**
 * Fills the scrape-time gauges from the shared snapshot of the database gauges (at most
 * METRICS_GAUGE_REFRESH_MS old), then runs the hooks modules registered for their in-memory state.
 * An instance keeps the snapshot it read until that snapshot is due, and concurrent scrapes share
 * one read: a scrape storm costs the database nothing more.
 */
@Injectable()
export class MetricsCollector {
  private held: { rows: GaugeRow[]; until: number } | undefined;
  private reading: Promise<GaugeRow[]> | undefined;

  constructor(
    @InjectConfig() private readonly config: AppConfig,
    private readonly metrics: MetricsService,
    private readonly repository: MetricsRepository,
  ) {}

  async render(): Promise<string> {
    const rows = await this.gauges();
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

  private gauges(): Promise<GaugeRow[]> {
    if (this.held && performance.now() < this.held.until) return Promise.resolve(this.held.rows);
    this.reading ??= this.repository
      .snapshot(this.config.metricsGaugeRefreshMs, this.config.metricsMaxTaskTypes)
      .then(({ rows, ageMs }) => {
        this.held = { rows, until: performance.now() + this.config.metricsGaugeRefreshMs - ageMs };
        return rows;
      })
      .finally(() => (this.reading = undefined));
    return this.reading;
  }
}
