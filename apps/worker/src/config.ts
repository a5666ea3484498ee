import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { AgentType } from '@agentmanager/contracts';

/** Seed 000's mcp_client_config.json, plus the worker's own optional settings. */
export interface WorkerConfig {
  client_agent_id: string;
  server_url: string;
  auth_token: string;
  /** Long-poll length per claim (0..30 s): the server answers at once when work arrives. */
  polling_interval_sec: number;
  max_parallel_tasks: number;
  agent_capabilities: string[];
  agent_type: AgentType;
  /** Registered with the agent; `endpoints.http` is where the `http` handler POSTs tasks. */
  endpoints: Record<string, unknown>;
  /** Task type → handler name, for types that are not handler names themselves (e.g. {"research": "llm"}). */
  task_handlers: Record<string, string>;
  /** A module exporting `handlers: Record<type, (task, ctx) => Promise<result>>`. */
  handlers_module?: string;
  /** Seconds to finish held tasks after SIGTERM before failing them back (retryable). */
  drain_grace_sec: number;
  /** How often a running task reports progress (also how fast a cancel is noticed). */
  progress_interval_sec: number;
  shell: { enabled: boolean; allow: string[]; timeout_sec?: number };
  http: { timeout_sec: number };
  llm: {
    base_url: string;
    api_key?: string;
    model: string;
    max_tokens: number;
    max_iterations: number;
    timeout_sec: number;
    tools: { http_get: boolean };
  };
}

export class ConfigError extends Error {}

const FLAGS = {
  config: { type: 'string' },
  url: { type: 'string' },
  token: { type: 'string' },
  'agent-id': { type: 'string' },
  capabilities: { type: 'string' },
  'max-parallel': { type: 'string' },
  'poll-sec': { type: 'string' },
  handlers: { type: 'string' },
  'drain-grace-sec': { type: 'string' },
  'enable-shell': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const USAGE = `Usage: npm run worker -- --config mcp_client_config.json [options]

Options (each overrides the config file; env in brackets):
  --url <url>              server_url            [AGENTMANAGER_URL]
  --token <key>            auth_token            [AGENTMANAGER_TOKEN]
  --agent-id <name>        client_agent_id       [AGENTMANAGER_AGENT_ID]
  --capabilities a,b       agent_capabilities    [AGENTMANAGER_CAPABILITIES]
  --max-parallel <n>       max_parallel_tasks    [AGENTMANAGER_MAX_PARALLEL]
  --poll-sec <s>           polling_interval_sec  [AGENTMANAGER_POLL_SEC]
  --handlers <module>      handlers_module       [AGENTMANAGER_HANDLERS]
  --drain-grace-sec <s>    drain_grace_sec       [AGENTMANAGER_DRAIN_GRACE_SEC]
  --enable-shell           shell.enabled (the allow list still comes from the config file)
LLM: OPENAI_BASE_URL, OPENAI_API_KEY, LLM_MODEL, LLM_MAX_TOKENS, LLM_MAX_ITERATIONS.`;

function num(value: string | undefined, name: string, min: number, max: number): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || n > max) throw new ConfigError(`${name} must be a number from ${min} to ${max} (got "${value}")`);
  return n;
}

function list(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

type FileConfig = Partial<Omit<WorkerConfig, 'shell' | 'http' | 'llm'>> & {
  shell?: Partial<WorkerConfig['shell']>;
  http?: Partial<WorkerConfig['http']>;
  llm?: Partial<Omit<WorkerConfig['llm'], 'tools'>> & { tools?: Partial<WorkerConfig['llm']['tools']> };
};

/** Defaults < config file < environment < flags. Throws ConfigError with a sentence for people. */
export function loadWorkerConfig(argv: string[], env: NodeJS.ProcessEnv): WorkerConfig | 'help' {
  let values: ReturnType<typeof parseArgs<{ args: string[]; options: typeof FLAGS; strict: true; allowPositionals: false }>>['values'];
  try {
    ({ values } = parseArgs({ args: argv, options: FLAGS, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new ConfigError(err instanceof Error ? err.message : String(err));
  }
  if (values.help) return 'help';
  const path = values.config ?? env.AGENTMANAGER_CONFIG;
  let file: FileConfig = {};
  if (path) {
    try {
      file = JSON.parse(readFileSync(path, 'utf8')) as FileConfig;
    } catch (err) {
      throw new ConfigError(`cannot read the config file ${path}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const pick = <T>(...candidates: (T | undefined)[]): T | undefined => candidates.find((c) => c !== undefined);
  const config: WorkerConfig = {
    client_agent_id: pick(values['agent-id'], env.AGENTMANAGER_AGENT_ID, file.client_agent_id) ?? '',
    server_url: pick(values.url, env.AGENTMANAGER_URL, file.server_url) ?? 'http://localhost:3000',
    auth_token: pick(values.token, env.AGENTMANAGER_TOKEN, file.auth_token) ?? '',
    polling_interval_sec:
      pick(num(values['poll-sec'], '--poll-sec', 0, 30), num(env.AGENTMANAGER_POLL_SEC, 'AGENTMANAGER_POLL_SEC', 0, 30), file.polling_interval_sec) ?? 5,
    max_parallel_tasks:
      pick(num(values['max-parallel'], '--max-parallel', 1, 100), num(env.AGENTMANAGER_MAX_PARALLEL, 'AGENTMANAGER_MAX_PARALLEL', 1, 100), file.max_parallel_tasks) ?? 2,
    agent_capabilities: pick(list(values.capabilities), list(env.AGENTMANAGER_CAPABILITIES), file.agent_capabilities) ?? ['echo'],
    agent_type: file.agent_type ?? 'worker',
    endpoints: file.endpoints ?? {},
    task_handlers: file.task_handlers ?? {},
    handlers_module: pick(values.handlers, env.AGENTMANAGER_HANDLERS, file.handlers_module),
    drain_grace_sec:
      pick(num(values['drain-grace-sec'], '--drain-grace-sec', 0, 3600), num(env.AGENTMANAGER_DRAIN_GRACE_SEC, 'AGENTMANAGER_DRAIN_GRACE_SEC', 0, 3600), file.drain_grace_sec) ?? 30,
    progress_interval_sec: file.progress_interval_sec ?? 10,
    shell: {
      enabled: values['enable-shell'] === true || file.shell?.enabled === true,
      allow: file.shell?.allow ?? [],
      timeout_sec: file.shell?.timeout_sec,
    },
    http: { timeout_sec: file.http?.timeout_sec ?? 30 },
    llm: {
      base_url: pick(env.OPENAI_BASE_URL, file.llm?.base_url) ?? 'https://api.openai.com/v1',
      api_key: pick(env.OPENAI_API_KEY, file.llm?.api_key),
      model: pick(env.LLM_MODEL, file.llm?.model) ?? 'gpt-4o-mini',
      max_tokens: pick(num(env.LLM_MAX_TOKENS, 'LLM_MAX_TOKENS', 1, 1_000_000), file.llm?.max_tokens) ?? 2000,
      max_iterations: pick(num(env.LLM_MAX_ITERATIONS, 'LLM_MAX_ITERATIONS', 1, 100), file.llm?.max_iterations) ?? 8,
      timeout_sec: file.llm?.timeout_sec ?? 120,
      tools: { http_get: file.llm?.tools?.http_get === true },
    },
  };
  if (!config.client_agent_id) throw new ConfigError('client_agent_id is required (config file, --agent-id or AGENTMANAGER_AGENT_ID)');
  if (!config.auth_token) throw new ConfigError('auth_token is required (config file, --token or AGENTMANAGER_TOKEN): an API key with the agent role');
  if (!/^https?:\/\//.test(config.server_url)) throw new ConfigError(`server_url must be an http(s) URL (got "${config.server_url}")`);
  if (!Array.isArray(config.shell.allow) || config.shell.allow.some((c) => typeof c !== 'string' || !c.trim())) {
    throw new ConfigError('shell.allow must be a list of command strings');
  }
  return config;
}
