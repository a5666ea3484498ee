import { type BeforeApplicationShutdown, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import type { Logger } from 'pino';
import { InjectLogger } from '../common/logger.module';
import { SingleFlight } from '../common/single-flight';
import { PgListener } from '../database/pg-listener.service';
import { MetricsService } from '../metrics/metrics.service';
import { EventsRepository, type StoredEvent } from './events.repository';

const BATCH = 500;
/** Correctness never hangs on a notification: the relay also polls. */
const POLL_MS = 1000;

/**
 * Per instance: reads the sealed outbox in seq order from where it left off — woken by the
 * sealer (in-process or by its NOTIFY), or by its poll — and hands each new event once to the
 * local sinks (the Socket.IO gateway, MCP subscriptions). Reads are single-flight, so order is
 * preserved.
 */
@Injectable()
export class EventsRelay implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private lastSeq = '0';
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly reads = new SingleFlight(() => this.drain());
  private readonly sinks = new Set<(events: StoredEvent[]) => void>();

  constructor(
    private readonly events: EventsRepository,
    private readonly listener: PgListener,
    private readonly metrics: MetricsService,
    @InjectLogger() private readonly logger: Logger,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.lastSeq = await this.events.lastSeq();
    this.metrics.onScrape(({ eventsHeadSeq }) => this.metrics.outboxLag.set(Math.max(0, eventsHeadSeq - Number(this.lastSeq))));
    this.listener.on('am_events', () => void this.pump());
    this.timer = setInterval(() => void this.pump(), POLL_MS);
    this.timer.unref();
  }

  /** Before the database closes (onApplicationShutdown): stop, and let a read under way finish. */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.reads.inFlight;
  }

  /** The seq of the newest event this instance has relayed. */
  get position(): string {
    return this.lastSeq;
  }

  subscribe(sink: (events: StoredEvent[]) => void): () => void {
    this.sinks.add(sink);
    return () => this.sinks.delete(sink);
  }

  pump(): Promise<void> {
    return this.reads.run();
  }

  private async drain(): Promise<void> {
    try {
      for (;;) {
        if (this.stopped) return;
        const batch = await this.events.forRelay(this.lastSeq, BATCH);
        if (batch.length === 0) return;
        this.lastSeq = batch[batch.length - 1].seq;
        for (const e of batch) if (e.sealed_ago != null) this.metrics.emitLag.observe(e.sealed_ago);
        for (const sink of this.sinks) {
          try {
            sink(batch);
          } catch (err) {
            this.logger.error({ err }, 'event sink failed');
          }
        }
        if (batch.length < BATCH) return;
      }
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'reading the outbox failed; will retry');
    }
  }
}
