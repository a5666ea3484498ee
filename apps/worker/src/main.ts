import { ConfigError, loadWorkerConfig, USAGE } from './config';
import { loadHandlers } from './handlers';
import { type LogFn,Worker } from './worker';

/** JSON lines on stdout, like the server's logs. */
const log: LogFn = (level, msg, fields = {}) => {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields })}\n`);
};

async function main(): Promise<void> {
  const config = loadWorkerConfig(process.argv.slice(2), process.env);
  if (config === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const handlers = loadHandlers(config.handlers_module);
  const worker = new Worker(config, handlers, log);
  log('info', 'starting', {
    agent: config.client_agent_id,
    server_url: config.server_url,
    capabilities: config.agent_capabilities,
    max_parallel_tasks: config.max_parallel_tasks,
    handlers: Object.keys(handlers),
    shell: config.shell.enabled ? config.shell.allow : false,
  });
  let draining: Promise<void> | undefined;
  const drain = (signal: string) => {
    if (draining) {
      log('warn', `${signal} again: exiting now`);
      process.exit(1);
    }
    log('info', `${signal}: no new claims; finishing held tasks`);
    draining = worker.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', () => drain('SIGTERM'));
  process.on('SIGINT', () => drain('SIGINT'));
  await worker.run();
  await draining;
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) process.stderr.write(`worker: ${err.message}\n\n${USAGE}\n`);
  else process.stderr.write(`worker failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(err instanceof ConfigError ? 2 : 1);
});
