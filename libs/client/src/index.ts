import type { Agent, ErrorBody, Task, TokenPair } from '../../contracts/src';

/** An API error: the API.md error body with its HTTP status. */
export class AgentManagerError extends Error {
  constructor(
    readonly status: number,
    readonly body: ErrorBody,
  ) {
    super(`${status} ${body.code}: ${body.message}`);
    this.name = 'AgentManagerError';
  }
}

/**
 * A small typed client for the REST API (fetch-based, no dependencies). The worker and the CLI
 * build on it; it grows with the API.
 */
export class AgentManagerClient {
  constructor(
    private readonly baseUrl: string,
    private token?: string,
  ) {}

  setToken(token: string): void {
    this.token = token;
  }

  async request<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    const res = await fetch(`${this.baseUrl.replace(/\/$/, '')}/api/v1${path}`, {
      method,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status === 204) return undefined as T;
    const json = (await res.json());
    if (!res.ok) throw new AgentManagerError(res.status, json as ErrorBody);
    return json as T;
  }

  async login(username: string, password: string): Promise<TokenPair> {
    const pair = await this.request<TokenPair>('POST', '/auth/login', { username, password });
    this.token = pair.access_token;
    return pair;
  }

  registerAgent(body: { name: string; type: Agent['type']; capabilities: string[]; max_parallel_tasks?: number }): Promise<Agent> {
    return this.request<Agent>('POST', '/agents/register', body);
  }

  heartbeat(agentId: string, body: { current_load?: number } = {}): Promise<{ server_time: string; heartbeat_interval_sec: number; lease_extended: number }> {
    return this.request('POST', `/agents/${agentId}/heartbeat`, body);
  }

  createTask(body: { type: string; payload?: unknown; priority?: Task['priority'] } & Record<string, unknown>): Promise<Task> {
    return this.request<Task>('POST', '/tasks', body);
  }

  async claim(agentId: string, maxTasks = 1, waitSeconds = 0): Promise<Task[]> {
    const res = await this.request<{ tasks: Task[] }>('POST', '/tasks/claim', { agent_id: agentId, max_tasks: maxTasks, wait_seconds: waitSeconds });
    return res.tasks;
  }

  complete(task: Pick<Task, 'id' | 'attempt'>, agentId: string, result: unknown): Promise<Task> {
    return this.request<Task>('POST', `/tasks/${task.id}/complete`, { agent_id: agentId, attempt: task.attempt, result });
  }

  fail(task: Pick<Task, 'id' | 'attempt'>, agentId: string, error: { code: string; message: string }, retryable = true): Promise<Task> {
    return this.request<Task>('POST', `/tasks/${task.id}/fail`, { agent_id: agentId, attempt: task.attempt, error, retryable });
  }
}
