import { trace } from '@opentelemetry/api';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import helmet from 'helmet';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { DomainError } from '../common/errors';
import { sendError } from '../common/http-error.filter';
import type { AppConfig } from '../config/app-config';
import type { MetricsService } from '../metrics/metrics.service';

/** The JSON API, health and metrics: nothing may be loaded or framed from a response. */
export const API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
/** Swagger UI at /docs inlines its bootstrap script and styles. */
export const DOCS_CSP =
  "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'";
/** Everything else (the static control panel at /): same-origin scripts only, sockets to this host. */
export const PANEL_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'";

/** Long-poll routes: their wait (at most 30 s) comes on top of the request timeout. */
const LONG_POLL = [/^\/api\/v1\/tasks\/claim\/?$/, /^\/api\/v1\/locks\/?$/];
const LONG_POLL_EXTRA_MS = 35_000;
/** Probes and scrapes are never shed or timed out: they are how an operator sees the overload. */
const OPERATIONS = /^\/(health\/(live|ready)|metrics)\/?$/;

export function cspFor(path: string): string {
  if (path === '/docs' || path.startsWith('/docs/') || path.startsWith('/docs-json')) return DOCS_CSP;
  if (path.startsWith('/api/') || path.startsWith('/health/') || path === '/metrics' || path.startsWith('/socket.io/')) return API_CSP;
  return PANEL_CSP;
}

/** helmet's defaults (nosniff, DENY framing, no-referrer, HSTS, ...) plus a CSP chosen by path. */
export function securityHeaders(): RequestHandler[] {
  return [
    helmet({ contentSecurityPolicy: false, frameguard: { action: 'deny' }, crossOriginEmbedderPolicy: false }),
    (req: Request, res: Response, next: NextFunction) => {
      res.setHeader('Content-Security-Policy', cspFor(req.path));
      // API responses are per caller (and some carry credentials): never cached by anyone.
      if (req.path.startsWith('/api/')) res.setHeader('Cache-Control', 'no-store');
      next();
    },
  ];
}

/** With tracing on, each response names its trace in a W3C `traceparent` header (error bodies stay as API.md fixes them). */
export function traceHeader(): RequestHandler {
  return (_req: Request, res: Response, next: NextFunction) => {
    const span = trace.getActiveSpan();
    if (span) {
      const { traceId, spanId, traceFlags } = span.spanContext();
      res.setHeader('traceparent', `00-${traceId}-${spanId}-${traceFlags.toString(16).padStart(2, '0')}`);
    }
    next();
  };
}

/** Observes every request's duration under the Nest route pattern (not the raw URL). */
export function httpMetrics(metrics: MetricsService): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const stop = metrics.httpDuration.startTimer();
    res.once('finish', () => {
      const route = (req.route as { path?: string } | undefined)?.path;
      stop({ method: req.method, route: route ?? 'unmatched', status: String(res.statusCode) });
    });
    next();
  };
}

/** A response not begun within REQUEST_TIMEOUT_MS (plus the wait on long-poll routes) becomes a 503. */
export function requestTimeout(config: AppConfig, logger: Logger): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    if (OPERATIONS.test(req.path)) return next();
    const ms = config.requestTimeoutMs + (LONG_POLL.some((r) => r.test(req.path)) ? LONG_POLL_EXTRA_MS : 0);
    const timer = setTimeout(() => {
      if (res.headersSent) return;
      logger.warn({ url: req.path, timeout_ms: ms }, 'request timed out');
      sendError(req, res, new DomainError('service_unavailable', 'The request took too long', { timeout_ms: ms }, 1), logger);
    }, ms);
    timer.unref();
    const clear = () => clearTimeout(timer);
    res.once('finish', clear);
    res.once('close', clear);
    next();
  };
}

interface PoolLike {
  waitingCount: number;
}

/**
 * Load shedding: when the database pool already has too many queued queries or the event loop
 * lags, new requests get 503 + Retry-After at once instead of joining an unbounded queue.
 */
export class LoadShedder {
  private readonly loop = monitorEventLoopDelay({ resolution: 20 });
  private lagMs = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly config: AppConfig,
    private readonly pool: () => PoolLike | undefined,
    private readonly metrics: MetricsService,
  ) {
    this.loop.enable();
    this.timer = setInterval(() => {
      // The worst delay seen over the last half second.
      this.lagMs = this.loop.max / 1e6;
      this.loop.reset();
    }, 500);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.loop.disable();
  }

  get eventLoopLagMs(): number {
    return this.lagMs;
  }

  /** Why a request should be refused now, or null. */
  overloaded(): 'db_pool' | 'event_loop' | null {
    const waiting = this.pool()?.waitingCount ?? 0;
    if (this.config.shedDbWaiters > 0 && waiting > this.config.shedDbWaiters) return 'db_pool';
    if (this.config.shedEventLoopLagMs > 0 && this.lagMs > this.config.shedEventLoopLagMs) return 'event_loop';
    return null;
  }

  middleware(logger: Logger): RequestHandler {
    return (req: Request, res: Response, next: NextFunction) => {
      if (OPERATIONS.test(req.path)) return next();
      const cause = this.overloaded();
      if (!cause) return next();
      this.metrics.shed.inc({ cause });
      sendError(req, res, new DomainError('service_unavailable', 'The server is overloaded; retry shortly', { cause }, 1), logger);
    };
  }
}
