import { readFileSync } from 'node:fs';
import { AgentManagerClient } from '../../../libs/client/src';

/**
 * The reference worker (seed 000's mcp_client_config.json contract). This first version
 * registers, heartbeats and runs `echo` tasks; the worker issue grows it into the full worker
 * (handlers by type, lock renewal, backoff, graceful drain).
 */
interface WorkerConfig {
  client_agent_id: string;
  server_url: string;
  auth_token: string;
  polling_interval_sec?: number;
  max_parallel_tasks?: number;
  agent_capabilities?: string[];
}

function loadConfig(): WorkerConfig {
  const index = process.argv.indexOf('--config');
  const file = index >= 0 ? process.argv[index + 1] : 'mcp_client_config.json';
  return JSON.parse(readFileSync(file, 'utf8')) as WorkerConfig;
}

async function main(): Promise<void> {
  const config = loadConfig();
  const client = new AgentManagerClient(config.server_url, config.auth_token);
  const agent = await client.registerAgent({
    name: config.client_agent_id,
    type: 'worker',
    capabilities: config.agent_capabilities ?? ['echo'],
    max_parallel_tasks: config.max_parallel_tasks ?? 1,
  });
  let running = true;
  process.on('SIGTERM', () => (running = false));
  process.on('SIGINT', () => (running = false));
  const beat = setInterval(() => void client.heartbeat(agent.id).catch(() => undefined), 10_000);
  while (running) {
    const tasks = await client.claim(agent.id, config.max_parallel_tasks ?? 1, config.polling_interval_sec ?? 5);
    for (const task of tasks) await client.complete(task, agent.id, { echo: task.payload });
  }
  clearInterval(beat);
}

main().catch((err: unknown) => {
  process.stderr.write(`worker failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
