import { type CallHandler, type ExecutionContext, Injectable, type NestInterceptor } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { Observable } from 'rxjs';
import type { Principal } from '../access/principal';
import { DomainError } from '../common/errors';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { MetricsService } from '../metrics/metrics.service';
import { RateLimitRepository } from './rate-limit.repository';

/**
 * The agent loop: claims, heartbeats and task reports count in their own, larger bucket, so a
 * busy agent key or a burst of ordinary API calls can never starve the other.
 */
const AGENT_LOOP = new Set([
  'POST /api/v1/tasks/claim',
  'POST /api/v1/agents/:id/heartbeat',
  'POST /api/v1/tasks/:id/progress',
  'POST /api/v1/tasks/:id/complete',
  'POST /api/v1/tasks/:id/fail',
]);
/** Probes and scrapes are never limited. */
const EXEMPT = new Set(['GET /health/live', 'GET /health/ready', 'GET /metrics']);

/**
 * Runs after the guards (so req.user is set): per principal when authenticated, per client IP
 * otherwise, RATE_LIMIT_PER_MIN per one-minute window, shared by every instance through one
 * table in PostgreSQL (batched, see RateLimitRepository). Sets RateLimit-Limit/-Remaining/-Reset; over the limit, 429 rate_limited
 * with Retry-After.
 */
@Injectable()
export class RateLimitInterceptor implements NestInterceptor {
  constructor(
    @InjectConfig() private readonly config: AppConfig,
    private readonly repository: RateLimitRepository,
    private readonly metrics: MetricsService,
  ) {}

  async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    if (context.getType() !== 'http') return next.handle();
    const http = context.switchToHttp();
    const req = http.getRequest<Request & { user?: Principal }>();
    const route = `${req.method} ${(req.route as { path?: string } | undefined)?.path ?? req.path}`;
    if (EXEMPT.has(route)) return next.handle();

    const agentLoop = AGENT_LOOP.has(route);
    const who = req.user ? `${req.user.kind}:${req.user.id}` : `ip:${req.ip ?? 'unknown'}`;
    const bucket = `${agentLoop ? 'agent' : 'api'}|${who}`;
    const limit = agentLoop ? this.config.rateLimitAgentPerMin : this.config.rateLimitPerMin;
    const { hits, reset_sec: reset } = this.repository.hit(bucket);

    const res = http.getResponse<Response>();
    res.setHeader('RateLimit-Limit', String(limit));
    res.setHeader('RateLimit-Remaining', String(Math.max(0, limit - hits)));
    res.setHeader('RateLimit-Reset', String(reset));
    if (hits > limit) {
      this.metrics.rateLimited.inc();
      throw new DomainError('rate_limited', `More than ${limit} requests in a minute; retry in ${reset} s`, { limit, reset_sec: reset }, reset);
    }
    return next.handle();
  }
}
