import type { Server } from 'node:http';
import type { Logger } from 'pino';
import type { ServerApp } from './bootstrap';
import type { AppConfig } from './config/app-config';
import { EventsGateway } from './events/events.gateway';
import { ShutdownState } from './lifecycle/shutdown-state';
import { Scheduler } from './scheduler/scheduler.service';

/** Of the grace period, what in-flight requests may use; the rest is for closing the pool and the database. */
const DRAIN_SHARE = 0.7;

/**
 * The one shutdown sequence (SIGTERM/SIGINT in main.ts), in this order:
 * 1. readiness fails (ShutdownState draining);
 * 2. with SHUTDOWN_DRAIN_DELAY_MS, the server keeps serving that long, for load balancers;
 * 3. the listener stops accepting, long-polls return their empty result, sockets are told
 *    `server_shutdown` and closed (they reconnect elsewhere and replay what they missed);
 * 4. periodic jobs (sweeps, webhook delivery) start no new run; runs under way finish;
 * 5. in-flight requests finish (within DRAIN_SHARE of SHUTDOWN_GRACE_MS, then their connections
 *    are cut);
 * 6. leader jobs stop: the sealer seals what those requests committed and lets go of its lock;
 * 7. the app closes (the Nest shutdown hooks: the relay's last read, rate-limit counters flushed,
 *    MCP sessions, the LISTEN connection), then the database (pool, embedded PostgreSQL).
 * An app closed without this sequence (tests) runs the same hooks through app.close().
 */
export async function gracefulShutdown(server: ServerApp, config: AppConfig, logger: Logger): Promise<void> {
  const { app } = server;
  const started = Date.now();
  const state = app.get(ShutdownState);
  const scheduler = app.get(Scheduler);
  state.beginDraining();
  if (config.shutdownDrainDelayMs > 0) await new Promise((r) => setTimeout(r, config.shutdownDrainDelayMs));

  const http: Server = app.getHttpServer();
  const drained = new Promise<void>((resolve) => http.close(() => resolve()));
  state.stopAccepting();
  app.get(EventsGateway).closeAll('server_shutdown', 'The server is shutting down; reconnect to continue');
  http.closeIdleConnections();
  const periodicStopped = scheduler.stopPeriodic();

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
  await periodicStopped;
  await scheduler.stop();
  await server.close();
  logger.info({ total_ms: Date.now() - started }, 'shut down');
}
