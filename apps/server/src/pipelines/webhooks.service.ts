import { Injectable, type OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { createHmac } from 'node:crypto';
import type { Logger } from 'pino';
import type { DataSource, EntityManager } from 'typeorm';
import { inTransaction, rows } from '@agentmanager/database';
import { SYSTEM_ACTOR } from '../access/principal';
import { AuditService } from '../audit/audit.service';
import { InjectLogger } from '../common/logger.module';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { Scheduler } from '../scheduler/scheduler.service';
import { SecretsService } from '../secrets/secrets.service';
import { type SendOutcome,WEBHOOK_TIMEOUT_MS, WebhookSender } from './webhook-sender';

export const WEBHOOK_MAX_ATTEMPTS = 8;
/** First retry after 1 s, doubling, at most 10 min apart. */
export const webhookBackoffMs = (attempts: number): number => Math.min(1000 * 2 ** (attempts - 1), 600_000);

interface DeliveryRow {
  id: string;
  run_id: string | null;
  url: string;
  event: string;
  body: string;
  attempts: number;
}

/**
 * Stored, signed webhook deliveries. A row is written in the transaction that finishes the run,
 * so a delivery is never lost to a crash; a scheduled job on every instance leases due rows
 * (`FOR UPDATE SKIP LOCKED`, pushing next_attempt_at past the attempt's timeout), POSTs them
 * outside any transaction, and records the outcome: delivered, retried with backoff, or failed
 * (attempts exhausted, or a refused target, which no retry can fix).
 */
@Injectable()
export class WebhooksService implements OnModuleInit {
  constructor(
    @InjectConfig() private readonly config: AppConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
    @InjectLogger() private readonly logger: Logger,
    private readonly scheduler: Scheduler,
    private readonly sender: WebhookSender,
    private readonly secrets: SecretsService,
    private readonly audit: AuditService,
  ) {}

  /**
   * Why a webhook URL is refused when a run is requested (scheme, credentials, a literal address in
   * a refused range), or null. A host name passes here and is vetted where the connection is made.
   */
  refusedTarget(url: string): string | null {
    return this.sender.precheck(url);
  }

  async enqueue(manager: EntityManager, d: { runId: string | null; url: string; event: string; body: string }): Promise<string> {
    const r = await rows<{ id: string }>(
      manager,
      `INSERT INTO webhook_deliveries (run_id, url, event, body, status, next_attempt_at) VALUES ($1, $2, $3, $4, 'pending', clock_timestamp()) RETURNING id`,
      [d.runId, d.url, d.event, d.body],
    );
    return r[0].id;
  }

  async sign(body: string): Promise<string> {
    const secret = this.config.webhookSecret ?? (await this.secrets.getOrCreate('webhook_signing_key'));
    return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
  }

  onModuleInit(): void {
    this.scheduler.register({ kind: 'every-instance', name: 'webhook-delivery', intervalMs: this.config.sweepIntervalMs, run: () => this.deliverDue() });
  }

  /** One round: lease due deliveries, send them, record each outcome. Public for tests and tools. */
  async deliverDue(limit = 20): Promise<number> {
    const due = await inTransaction(this.dataSource, (manager) =>
      rows<DeliveryRow>(
        manager,
        `UPDATE webhook_deliveries SET attempts = attempts + 1, updated_at = clock_timestamp(),
                next_attempt_at = clock_timestamp() + make_interval(secs => $2)
          WHERE id IN (SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= clock_timestamp()
                        ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
          RETURNING id, run_id, url, event, body, attempts`,
        [limit, (WEBHOOK_TIMEOUT_MS / 1000) * 6],
      ),
    );
    await Promise.all(due.map((d) => this.attempt(d)));
    return due.length;
  }

  private async attempt(d: DeliveryRow): Promise<void> {
    let outcome: SendOutcome;
    try {
      outcome = await this.sender.send(d.url, d.body, {
        'x-agentmanager-signature': await this.sign(d.body),
        'x-agentmanager-delivery': d.id,
        'x-agentmanager-event': d.event,
      });
    } catch (err) {
      outcome = { kind: 'network_error', message: (err as Error).message };
    }
    const delivered = outcome.kind === 'delivered';
    const final = delivered || outcome.kind === 'refused' || d.attempts >= WEBHOOK_MAX_ATTEMPTS;
    const status = delivered ? 'delivered' : final ? 'failed' : 'pending';
    const error = outcome.kind === 'delivered' ? null : outcome.message;
    await inTransaction(this.dataSource, async (manager) => {
      await manager.query(
        `UPDATE webhook_deliveries SET status = $2, last_error = $3, last_status_code = $4, updated_at = clock_timestamp(),
                next_attempt_at = CASE WHEN $2 = 'pending' THEN clock_timestamp() + make_interval(secs => $5::double precision / 1000) ELSE NULL END,
                delivered_at = CASE WHEN $2 = 'delivered' THEN clock_timestamp() ELSE NULL END
          WHERE id = $1`,
        [d.id, status, error, 'status' in outcome ? outcome.status : null, webhookBackoffMs(d.attempts)],
      );
      await this.audit.record(manager, {
        actor: SYSTEM_ACTOR,
        action: 'webhook.delivery',
        resourceType: 'webhook_delivery',
        resourceId: d.id,
        outcome: delivered ? 'success' : 'error',
        details: { run_id: d.run_id, event: d.event, attempt: d.attempts, result: outcome.kind, status, error, host: safeHost(d.url) },
      });
    });
    if (!delivered) this.logger.warn({ delivery: d.id, attempt: d.attempts, result: outcome.kind, error }, 'webhook delivery did not succeed');
  }
}

function safeHost(url: string): string | null {
  try {
    return new URL(url).host;
  } catch {
    return null;
  }
}
