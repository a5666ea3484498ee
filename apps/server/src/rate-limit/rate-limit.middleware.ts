import { Injectable } from '@nestjs/common';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { AuthenticationService } from '../auth/authentication.service';
import { authenticateRequest } from '../auth/request-authentication';
import { DomainError } from '../common/errors';
import { sendError } from '../common/http-error.filter';
import type { AppConfig } from '../config/app-config';
import { InjectConfig } from '../config/config.module';
import { MetricsService } from '../metrics/metrics.service';
import { RateLimitRepository } from './rate-limit.repository';

/** What is counted: the API and MCP (probes, scrapes, the panel's files and /docs are not). Express matches routes case-insensitively, so this does too. */
const COUNTED = /^\/(api|mcp)(\/|$)/i;
/**
 * The agent loop: claims, heartbeats and task reports count in their own, larger bucket, so a
 * busy agent key or a burst of ordinary API calls can never starve the other.
 */
const AGENT_LOOP = /^\/api\/v1\/(tasks\/claim|agents\/[^/]+\/heartbeat|tasks\/[^/]+\/(progress|complete|fail))\/?$/i;

/**
 * Runs before the guard, so what the guard refuses is counted too: a flood of bad tokens (401)
 * or forbidden calls (403) gets 429 once over the limit, before any audit row. Per principal when
 * the bearer credential authenticates (authenticated once per request, for the guard as well), per
 * client IP otherwise; RATE_LIMIT_PER_MIN per one-minute window, shared by every instance through
 * one table in PostgreSQL (batched, see RateLimitRepository). Each call of an MCP JSON-RPC batch
 * counts. Sets RateLimit-Limit/-Remaining/-Reset; over the limit, 429 rate_limited with Retry-After.
 */
@Injectable()
export class RateLimitMiddleware {
  constructor(
    @InjectConfig() private readonly config: AppConfig,
    private readonly repository: RateLimitRepository,
    private readonly metrics: MetricsService,
    private readonly authentication: AuthenticationService,
  ) {}

  handler(logger: Logger): RequestHandler {
    return (req: Request, res: Response, next: NextFunction) => {
      if (!COUNTED.test(req.path)) return next();
      this.count(req, res).then(
        (refusal) => (refusal ? sendError(req, res, refusal, logger) : next()),
        (err: unknown) => next(err),
      );
    };
  }

  /** Counts the request; the 429 to send when it is over the limit. */
  private async count(req: Request, res: Response): Promise<DomainError | undefined> {
    const principal = await authenticateRequest(req, this.authentication)?.catch(() => undefined);
    const agentLoop = req.method === 'POST' && AGENT_LOOP.test(req.path);
    const who = principal ? `${principal.kind}:${principal.id}` : `ip:${req.ip ?? 'unknown'}`;
    const limit = agentLoop ? this.config.rateLimitAgentPerMin : this.config.rateLimitPerMin;
    const { hits, reset_sec: reset } = this.repository.hit(`${agentLoop ? 'agent' : 'api'}|${who}`, callsIn(req));

    res.setHeader('RateLimit-Limit', String(limit));
    res.setHeader('RateLimit-Remaining', String(Math.max(0, limit - hits)));
    res.setHeader('RateLimit-Reset', String(reset));
    if (hits <= limit) return undefined;
    this.metrics.rateLimited.inc();
    return new DomainError('rate_limited', `More than ${limit} requests in a minute; retry in ${reset} s`, { limit, reset_sec: reset }, reset);
  }
}

/** A JSON-RPC batch (an array body, as MCP clients may send) is as many calls as it holds. */
function callsIn(req: Request): number {
  const body: unknown = req.body;
  return Array.isArray(body) ? Math.max(1, body.length) : 1;
}
