import { type BeforeApplicationShutdown, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import { InjectLogger } from '../common/logger.module';
import { type RequestContext, RequestContextStore } from '../common/request-context';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { type AuditEntry, AuditService } from './audit.service';

/** Windows open at once; past this a denial is written as it comes (the rate limiter bounds those). */
const MAX_OPEN_WINDOWS = 10_000;

interface Window {
  entry: AuditEntry;
  /** Denials held back since the window's row, and the request context of the last of them. */
  held: number;
  context: RequestContext | undefined;
  timer: NodeJS.Timeout;
}

/**
 * `authz.denied` rows without a write per denial: the first denial of an actor on a resource (a
 * route, an MCP tool) is written at once, as it always was; the repeats within
 * AUDIT_DENIAL_WINDOW_SEC are counted, and when the window ends they become one row with
 * `details.count` (and `window_sec`), which opens the next window. A steady flood of 403s thus
 * writes one row per actor and resource per window, per instance, and loses no count.
 */
@Injectable()
export class DenialAudits implements BeforeApplicationShutdown {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly audit: AuditService,
    @InjectConfig() private readonly config: AppConfig,
    @InjectLogger() private readonly logger: Logger,
  ) {}

  async record(entry: AuditEntry): Promise<void> {
    const key = `${entry.actor.type}:${entry.actor.id}|${entry.resourceType}|${entry.resourceId ?? ''}`;
    const open = this.windows.get(key);
    if (open) {
      open.held++;
      open.context = RequestContextStore.current();
      return;
    }
    if (this.windows.size < MAX_OPEN_WINDOWS) this.open(key, entry);
    await this.audit.recordAlone(entry);
  }

  /** Shutdown: what the open windows held back is written now. */
  async beforeApplicationShutdown(): Promise<void> {
    const open = [...this.windows.keys()];
    await Promise.all(open.map((key) => this.close(key, false)));
  }

  private open(key: string, entry: AuditEntry): void {
    const timer = setTimeout(() => void this.close(key, true), this.config.auditDenialWindowSec * 1000);
    timer.unref();
    this.windows.set(key, { entry, held: 0, context: undefined, timer });
  }

  private async close(key: string, reopen: boolean): Promise<void> {
    const window = this.windows.get(key);
    if (!window) return;
    clearTimeout(window.timer);
    this.windows.delete(key);
    if (window.held === 0) return;
    if (reopen) this.open(key, window.entry);
    const entry = { ...window.entry, details: { ...window.entry.details, count: window.held, window_sec: this.config.auditDenialWindowSec } };
    const write = () => this.audit.recordAlone(entry);
    try {
      await (window.context ? RequestContextStore.run(window.context, write) : write());
    } catch (err) {
      this.logger.warn({ err, action: entry.action, count: window.held }, 'could not write the aggregated denial audit row');
    }
  }
}
