import type { Server } from 'node:http';
import type { Logger } from 'pino';
import type { ServerApp } from './bootstrap';
import type { AppConfig } from './config/app-config';
import { EventsGateway } from './events/events.gateway';
import { ShutdownState } from './health/shutdown-state';
import { ShutdownSignal } from './notifications/shutdown-signal';

/** Of the grace period, what in-flight requests may use; the rest is for closing the pool and the database. */
const DRAIN_SHARE = 0.7;

/**
 * The one shutdown path (SIGTERM/SIGINT in main.ts): readiness fails at once (then, with
 * SHUTDOWN_DRAIN_DELAY_MS, the server keeps serving that long for load balancers), the listener stops
 * accepting, long-polls return their empty result, sockets are told `server_shutdown` and closed,
 * in-flight requests finish (within DRAIN_SHARE of SHUTDOWN_GRACE_MS, then their connections are
 * cut), and then the app (sweeper, relay, listener) and the database (pool, embedded PostgreSQL) close.
 */
export async function gracefulShutdown(server: ServerApp, config: AppConfig, logger: Logger): Promise<void> {
  const { app } = server;
  const started = Date.now();
  app.get(ShutdownState).begin();
  // Readiness now fails; behind a load balancer, keep serving until it has noticed.
  if (config.shutdownDrainDelayMs > 0) await new Promise((r) => setTimeout(r, config.shutdownDrainDelayMs));
  const http: Server = app.getHttpServer();
  const drained = new Promise<void>((resolve) => http.close(() => resolve()));
  app.get(ShutdownSignal).beforeApplicationShutdown();
  app.get(EventsGateway).closeAll('server_shutdown', 'The server is shutting down; reconnect to continue');
  http.closeIdleConnections();

  let timer: NodeJS.Timeout | undefined;
  const finished = await Promise.race([
    drained.then(() => true),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, config.shutdownGraceMs * DRAIN_SHARE - (Date.now() - started))))),
  ]);
  clearTimeout(timer);
  if (!finished) {
    logger.warn('in-flight requests outlived the drain period; closing their connections');
    http.closeAllConnections();
  }
  logger.info({ drain_ms: Date.now() - started }, 'requests drained; closing');
  await server.close();
  logger.info({ total_ms: Date.now() - started }, 'shut down');
}
