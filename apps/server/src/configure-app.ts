import { type INestApplication,RequestMethod } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { NextFunction, Request, Response } from 'express';
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { pinoHttp } from 'pino-http';
import { DataSource } from 'typeorm';
import { DomainError } from './common/errors';
import { HttpErrorFilter, sendError } from './common/http-error.filter';
import { RequestContextStore } from './common/request-context';
import { requestIdFrom } from './common/request-id';
import { createValidationPipe } from './common/validation';
import type { AppConfig } from './config/app-config';
import { AppIoAdapter } from './events/io-adapter';
import { httpMetrics, LoadShedder, requestTimeout, securityHeaders,traceHeader } from './http/http-hardening';
import { inputGuard } from './http/input-guard.middleware';
import { ShutdownState } from './lifecycle/shutdown-state';
import { MetricsService } from './metrics/metrics.service';
import { findPanelDir, panelMiddleware } from './panel/panel-static';
import { RateLimitMiddleware } from './rate-limit/rate-limit.middleware';

export const API_PREFIX = 'api/v1';

/** Routes served outside /api/v1. */
export const UNPREFIXED = [
  { path: 'health/live', method: RequestMethod.GET },
  { path: 'health/ready', method: RequestMethod.GET },
  { path: 'metrics', method: RequestMethod.GET },
  { path: 'mcp', method: RequestMethod.ALL },
];

/**
 * Everything about the HTTP surface that main.ts and the e2e tests must share: prefix, body
 * limits, request ids, logging, validation, the error filter, CORS, headers and OpenAPI.
 */
export function configureApp(app: NestExpressApplication, config: AppConfig, logger: Logger): INestApplication {
  app.disable('x-powered-by');
  // First, so even a response from the body parser (413, invalid JSON) carries them.
  app.use(...securityHeaders());
  app.set('trust proxy', config.trustProxy);
  app.useBodyParser('json', { limit: config.bodyLimitBytes });
  app.useBodyParser('urlencoded', { limit: config.bodyLimitBytes, extended: false });

  app.use(
    pinoHttp({
      logger,
      genReqId: (req, res) => {
        const id = requestIdFrom(req.headers['x-request-id']);
        res.setHeader('X-Request-Id', id);
        return id;
      },
      customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info'),
      customSuccessObject: (req, res, value: Record<string, unknown>) => ({
        ...value,
        principal_id: (req as Request & { user?: { id?: string } }).user?.id ?? null,
        route: ((req as Request).route as { path?: string } | undefined)?.path ?? null,
      }),
      serializers: {
        req: (req: { id: string; method: string; url: string }) => ({ id: req.id, method: req.method, url: req.url.split('?')[0] }),
        res: (res: { statusCode: number }) => ({ status: res.statusCode }),
      },
      autoLogging: { ignore: (req) => req.url === '/health/live' || req.url === '/health/ready' },
    }),
  );
  app.use(httpMetrics(app.get(MetricsService)), traceHeader());
  const shutdown = app.get(ShutdownState);
  const shedder = new LoadShedder(config, () => poolOf(app.get(DataSource)), app.get(MetricsService));
  app.use(shedder.middleware(logger));
  app.use(requestTimeout(config, logger));
  // Node's own limits: the whole request must arrive within the timeout (slow-loris), and idle
  // keep-alive sockets outlive a typical load balancer's 60 s idle timeout.
  const server: Server = app.getHttpServer();
  server.requestTimeout = config.requestTimeoutMs;
  server.headersTimeout = Math.min(config.requestTimeoutMs, 20_000);
  server.keepAliveTimeout = 65_000;
  server.once('close', () => shedder.stop());
  app.use((req: Request, res: Response, next: NextFunction) => {
    // Draining: tell keep-alive clients to reconnect (to another instance) after this response.
    if (shutdown.isDraining) res.setHeader('Connection', 'close');
    RequestContextStore.run(
      {
        requestId: (req as Request & { id: string }).id,
        ip: req.ip ?? null,
        userAgent: req.headers['user-agent'] ?? null,
        via: 'rest',
      },
      next,
    );
  });
  app.use(app.get(RateLimitMiddleware).handler(logger)); // before the guard: 401s and 403s count too

  // After the body parsers and the request id, before routing, the MCP transport and any DTO transform.
  app.use(inputGuard(logger));

  // The control panel (apps/panel/dist, when built) at `/`, ahead of Nest's routes but never over them.
  const panelDir = findPanelDir();
  if (panelDir) app.use(panelMiddleware(panelDir));

  app.enableCors({
    origin: config.corsOrigins.length ? config.corsOrigins : false,
    credentials: false,
    exposedHeaders: ['X-Request-Id', 'Retry-After', 'RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset'],
  });
  app.setGlobalPrefix(API_PREFIX, { exclude: UNPREFIXED });
  app.useGlobalPipes(createValidationPipe());
  app.useGlobalFilters(new HttpErrorFilter(logger));
  // Socket.IO shares the HTTP port; the adapter applies CORS_ORIGINS to the handshake.
  app.useWebSocketAdapter(new AppIoAdapter(app, config));

  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('AgentManager API')
      .setDescription(
        'Coordinates fleets of AI agents and workers. Errors use one body: ' +
          '{status_code, code, message, details, request_id}. Every response carries X-Request-Id.',
      )
      .setVersion('1')
      .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'A JWT access token or an API key' })
      .build(),
  );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json', useGlobalPrefix: false });

  // Errors raised by express middleware before Nest's router (e.g. body-parser) end here.
  app.use((err: unknown, req: Request, res: Response, next: NextFunction) => {
    if (!err) return next();
    sendError(req, res, err, logger);
  });
  return app;
}

/** The pg Pool behind TypeORM's postgres driver (for its waiting-queries count). */
function poolOf(dataSource: DataSource): { waitingCount: number } | undefined {
  return (dataSource.driver as unknown as { master?: { waitingCount: number } }).master;
}

/**
 * Call after `app.init()`, so it lands behind every route. Nest answers unknown paths under
 * /api/v1 itself; without this, any other unknown path would get express's HTML 404.
 */
export function registerNotFoundFallback(app: NestExpressApplication, logger: Logger): void {
  app.use((req: Request, res: Response) => sendError(req, res, new DomainError('not_found', 'No such route'), logger));
}
