import type { Agent, AgentManagerEvent, ErrorBody, Task, TokenPair } from '@agentmanager/contracts';
import { AgentManagerError, ConnectionError } from './errors';
import { EventStream, type EventStreamOptions } from './event-stream';
import type {
  AcquireLockBody,
  AgentQuery,
  ApiKey,
  CompleteBody,
  CreatedApiKey,
  CreateTaskBody,
  HeartbeatResult,
  ListQuery,
  Lock,
  LockQuery,
  Me,
  Pipeline,
  PipelineRun,
  ProgressBody,
  RegisterAgentBody,
  TaskError,
  TaskQuery,
  User,
  Workflow,
} from './types';

export interface ClientOptions {
  /** A refresh token: on a 401 the client refreshes once and repeats the request. */
  refreshToken?: string;
  /** Called whenever login or refresh yields a new pair (e.g. to store it). */
  onTokens?: (pair: TokenPair) => void;
  /** Per-request timeout (ms) when the call does not set its own; default 30 000. */
  timeoutMs?: number;
}

export interface RequestOptions {
  headers?: Record<string, string>;
  query?: Record<string, string | number | boolean | undefined | null>;
  signal?: AbortSignal;
  timeoutMs?: number;
}

type Query = Record<string, string | number | boolean | undefined | null>;

function queryString(query: Query | undefined): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
  const s = params.toString();
  return s ? `?${s}` : '';
}

function synthesizedBody(status: number, text: string, requestId: string | null): ErrorBody {
  return {
    status_code: status,
    code: status >= 500 ? 'upstream_error' : 'http_error',
    message: text.slice(0, 200) || `HTTP ${status}`,
    details: {},
    request_id: requestId ?? '',
  };
}

/**
 * The typed client for the AgentManager REST API (fetch-based, no dependencies beyond
 * socket.io-client for the event stream). The worker, the CLI and the e2e tests build on it.
 *
 * Errors: an HTTP error is an AgentManagerError carrying the API.md body; a server that cannot be
 * reached (refused, reset, timed out) is a ConnectionError (`isConnectionError(err)`).
 */
export class AgentManagerClient {
  readonly baseUrl: string;
  private refreshToken?: string;
  private refreshing?: Promise<void>;

  constructor(
    baseUrl: string,
    private token?: string,
    private readonly options: ClientOptions = {},
  ) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.refreshToken = options.refreshToken;
  }

  setToken(token: string, refreshToken?: string): void {
    this.token = token;
    if (refreshToken !== undefined) this.refreshToken = refreshToken;
  }

  get accessToken(): string | undefined {
    return this.token;
  }

  async request<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}, options: RequestOptions = {}): Promise<T> {
    try {
      return await this.send<T>(method, path, body, { ...options, headers: { ...headers, ...options.headers } });
    } catch (err) {
      const refreshable = err instanceof AgentManagerError && err.status === 401 && this.refreshToken && !path.startsWith('/auth/');
      if (!refreshable) throw err;
      await this.refreshOnce();
      return this.send<T>(method, path, body, { ...options, headers: { ...headers, ...options.headers } });
    }
  }

  private async send<T>(method: string, path: string, body: unknown, options: RequestOptions): Promise<T> {
    const timeout = AbortSignal.timeout(options.timeoutMs ?? this.options.timeoutMs ?? 30_000);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    let res: Response;
    let text: string;
    try {
      res = await fetch(`${this.baseUrl}/api/v1${path}${queryString(options.query)}`, {
        method,
        headers: {
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
          ...options.headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      });
      text = await res.text();
    } catch (err) {
      if (options.signal?.aborted) throw err; // the caller gave up: not a connection problem
      const cause = (err as { cause?: { code?: string } }).cause;
      const why = cause?.code ?? (err instanceof Error ? err.name : 'error');
      throw new ConnectionError(`cannot reach ${this.baseUrl} (${why})`, err);
    }
    if (res.status === 204 || (res.ok && text === '')) return undefined as T;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      if (res.ok) throw new AgentManagerError(res.status, synthesizedBody(res.status, 'The response was not JSON', res.headers.get('x-request-id')));
      json = synthesizedBody(res.status, text, res.headers.get('x-request-id'));
    }
    if (!res.ok) {
      const errorBody = json && typeof json === 'object' && 'code' in json ? (json as ErrorBody) : synthesizedBody(res.status, text, res.headers.get('x-request-id'));
      const error = new AgentManagerError(res.status, errorBody);
      const retryAfter = Number(res.headers.get('retry-after'));
      if (Number.isFinite(retryAfter) && retryAfter > 0) error.retryAfterSec = retryAfter;
      throw error;
    }
    return json as T;
  }

  /** Concurrent 401s share one refresh; a refresh token is single-use. */
  private refreshOnce(): Promise<void> {
    this.refreshing ??= this.refresh()
      .then(() => undefined)
      .finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  // ---- auth -------------------------------------------------------------------------------

  async login(username: string, password: string): Promise<TokenPair> {
    const pair = await this.request<TokenPair>('POST', '/auth/login', { username, password });
    this.adopt(pair);
    return pair;
  }

  async refresh(refreshToken = this.refreshToken): Promise<TokenPair> {
    if (!refreshToken) throw new Error('no refresh token');
    const pair = await this.request<TokenPair>('POST', '/auth/refresh', { refresh_token: refreshToken });
    this.adopt(pair);
    return pair;
  }

  async logout(refreshToken = this.refreshToken): Promise<void> {
    if (refreshToken) await this.request<void>('POST', '/auth/logout', { refresh_token: refreshToken });
  }

  me(): Promise<Me> {
    return this.request<Me>('GET', '/auth/me');
  }

  private adopt(pair: TokenPair): void {
    this.token = pair.access_token;
    this.refreshToken = pair.refresh_token;
    this.options.onTokens?.(pair);
  }

  // ---- users, roles, API keys -------------------------------------------------------------

  createUser(body: { username: string; password: string; email?: string; roles?: string[] }): Promise<User> {
    return this.request<User>('POST', '/users', body);
  }

  listUsers(query: ListQuery = {}): Promise<{ users: User[]; next_cursor: string | null }> {
    return this.request('GET', '/users', undefined, {}, { query: { ...query } });
  }

  createApiKey(body: { name: string; roles: string[]; expires_at?: string }): Promise<CreatedApiKey> {
    return this.request<CreatedApiKey>('POST', '/api-keys', body);
  }

  listApiKeys(query: ListQuery = {}): Promise<{ api_keys: ApiKey[]; next_cursor: string | null }> {
    return this.request('GET', '/api-keys', undefined, {}, { query: { ...query } });
  }

  revokeApiKey(id: string): Promise<void> {
    return this.request<void>('DELETE', `/api-keys/${encodeURIComponent(id)}`);
  }

  // ---- agents -----------------------------------------------------------------------------

  registerAgent(body: RegisterAgentBody): Promise<Agent> {
    return this.request<Agent>('POST', '/agents/register', body);
  }

  listAgents(query: AgentQuery = {}): Promise<{ agents: Agent[]; next_cursor: string | null }> {
    return this.request('GET', '/agents', undefined, {}, { query: { ...query } });
  }

  getAgent(id: string): Promise<Agent> {
    return this.request<Agent>('GET', `/agents/${encodeURIComponent(id)}`);
  }

  heartbeat(agentId: string, body: { current_load?: number; status?: 'active' | 'draining' } = {}): Promise<HeartbeatResult> {
    return this.request<HeartbeatResult>('POST', `/agents/${encodeURIComponent(agentId)}/heartbeat`, body);
  }

  setAgentStatus(id: string, status: 'active' | 'draining' | 'disabled'): Promise<Agent> {
    return this.request<Agent>('PATCH', `/agents/${encodeURIComponent(id)}`, { status });
  }

  deregisterAgent(id: string): Promise<void> {
    return this.request<void>('DELETE', `/agents/${encodeURIComponent(id)}`);
  }

  // ---- tasks ------------------------------------------------------------------------------

  createTask(body: CreateTaskBody & Record<string, unknown>, options: { idempotencyKey?: string } = {}): Promise<Task> {
    return this.request<Task>('POST', '/tasks', body, options.idempotencyKey ? { 'idempotency-key': options.idempotencyKey } : {});
  }

  listTasks(query: TaskQuery = {}): Promise<{ tasks: Task[]; next_cursor: string | null }> {
    return this.request('GET', '/tasks', undefined, {}, { query: { ...query } });
  }

  getTask(id: string): Promise<Task> {
    return this.request<Task>('GET', `/tasks/${encodeURIComponent(id)}`);
  }

  /** Long-polls up to `waitSeconds` (0..30). The request timeout is stretched to cover the wait. */
  async claim(agentId: string, maxTasks = 1, waitSeconds = 0, options: { signal?: AbortSignal } = {}): Promise<Task[]> {
    const res = await this.request<{ tasks: Task[] }>(
      'POST',
      '/tasks/claim',
      { agent_id: agentId, max_tasks: maxTasks, wait_seconds: waitSeconds },
      {},
      { signal: options.signal, timeoutMs: (waitSeconds + 15) * 1000 },
    );
    return res.tasks;
  }

  progress(task: Pick<Task, 'id' | 'attempt'>, agentId: string, body: ProgressBody): Promise<Task> {
    return this.request<Task>('POST', `/tasks/${encodeURIComponent(task.id)}/progress`, { agent_id: agentId, attempt: task.attempt, ...body });
  }

  /** `result` may be the bare result (as in the first version) or `{result, ra_history, execution_time}` via completeWith. */
  complete(task: Pick<Task, 'id' | 'attempt'>, agentId: string, result: unknown): Promise<Task> {
    return this.completeWith(task, agentId, { result });
  }

  completeWith(task: Pick<Task, 'id' | 'attempt'>, agentId: string, body: CompleteBody): Promise<Task> {
    return this.request<Task>('POST', `/tasks/${encodeURIComponent(task.id)}/complete`, { agent_id: agentId, attempt: task.attempt, ...body });
  }

  fail(task: Pick<Task, 'id' | 'attempt'>, agentId: string, error: TaskError, retryable = true): Promise<Task> {
    return this.request<Task>('POST', `/tasks/${encodeURIComponent(task.id)}/fail`, { agent_id: agentId, attempt: task.attempt, error, retryable });
  }

  cancelTask(id: string): Promise<Task> {
    return this.request<Task>('POST', `/tasks/${encodeURIComponent(id)}/cancel`);
  }

  retryTask(id: string): Promise<Task> {
    return this.request<Task>('POST', `/tasks/${encodeURIComponent(id)}/retry`);
  }

  // ---- locks ------------------------------------------------------------------------------

  acquireLock(body: AcquireLockBody): Promise<Lock> {
    const wait = body.wait_seconds ?? 0;
    return this.request<Lock>('POST', '/locks', body, {}, { timeoutMs: (wait + 15) * 1000 });
  }

  renewLock(id: string, ttlSeconds?: number): Promise<Lock> {
    return this.request<Lock>('POST', `/locks/${encodeURIComponent(id)}/renew`, ttlSeconds === undefined ? {} : { ttl_seconds: ttlSeconds });
  }

  releaseLock(id: string): Promise<void> {
    return this.request<void>('DELETE', `/locks/${encodeURIComponent(id)}`);
  }

  listLocks(query: LockQuery = {}): Promise<{ locks: Lock[]; next_cursor: string | null }> {
    return this.request('GET', '/locks', undefined, {}, { query: { ...query } });
  }

  // ---- workflows, pipelines (when the server has them) --------------------------------------

  createWorkflow(body: Record<string, unknown>): Promise<Workflow> {
    return this.request<Workflow>('POST', '/workflows', body);
  }

  getWorkflow(id: string): Promise<Workflow> {
    return this.request<Workflow>('GET', `/workflows/${encodeURIComponent(id)}`);
  }

  listWorkflows(query: ListQuery & { status?: string } = {}): Promise<{ workflows: Workflow[]; next_cursor: string | null }> {
    return this.request('GET', '/workflows', undefined, {}, { query: { ...query } });
  }

  createPipeline(body: Record<string, unknown>): Promise<Pipeline> {
    return this.request<Pipeline>('POST', '/pipelines', body);
  }

  executePipeline(id: string, body: Record<string, unknown> = {}): Promise<PipelineRun> {
    return this.request<PipelineRun>('POST', `/pipelines/${encodeURIComponent(id)}/execute`, body);
  }

  getPipelineRun(id: string): Promise<PipelineRun> {
    return this.request<PipelineRun>('GET', `/pipeline-runs/${encodeURIComponent(id)}`);
  }

  // ---- events -----------------------------------------------------------------------------

  /** One page of GET /events?after=<seq>. */
  replayEvents(after: number | string, limit = 500): Promise<{ events: AgentManagerEvent[]; next_cursor: string | null }> {
    return this.request('GET', '/events', undefined, {}, { query: { after: String(after), limit } });
  }

  /** A live event stream with reconnect + replay by seq (no gaps, no duplicates). */
  events(options: EventStreamOptions): EventStream {
    return new EventStream(this, options);
  }
}
