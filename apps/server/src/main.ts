// First (side-effect imports, which import sorting leaves first and in order): `.env`, then
// tracing, which must patch http, express and pg before anything loads them.
import './load-env';
import './telemetry';
import { createServerApp } from './bootstrap';
import { createLogger } from './common/logger';
import { ConfigError, loadConfig } from './config/app-config';
import { gracefulShutdown } from './shutdown';
import { telemetry } from './telemetry';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  const server = await createServerApp(config, logger);
  await server.app.listen(config.port, config.host);
  logger.info({ port: config.port, docs: `http://localhost:${config.port}/docs` }, 'AgentManager is listening');

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, grace_ms: config.shutdownGraceMs }, 'shutting down');
    const timer = setTimeout(() => {
      logger.error('shutdown grace period elapsed; exiting');
      process.exit(1);
    }, config.shutdownGraceMs + 2_000);
    timer.unref();
    gracefulShutdown(server, config, logger)
      // Flush the last spans (bounded by the grace timer above).
      .then(() => telemetry?.shutdown())
      .then(() => process.exit(0))
      .catch((err: unknown) => {
        logger.error({ err }, 'error during shutdown');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`AgentManager failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
