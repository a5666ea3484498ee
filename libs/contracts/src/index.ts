/**
 * Wire types shared by the server, the worker and the tests: the names and shapes API.md fixes.
 * The server's DTO classes implement these; clients import them without pulling in Nest.
 */
export type TaskStatus = 'pending' | 'ready' | 'running' | 'completed' | 'retrying' | 'failed' | 'cancelled';
export type TaskPriority = 'high' | 'medium' | 'low';
export type AgentStatus = 'active' | 'draining' | 'offline' | 'disabled';
export type AgentType = 'worker' | 'orchestrator' | 'validator';
export type LockAccess = 'read' | 'write' | 'exclusive';

export interface ErrorBody {
  status_code: number;
  code: string;
  message: string;
  details: Record<string, unknown>;
  request_id: string;
}

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  token_type: 'Bearer';
  expires_in: number;
}

export interface Agent {
  id: string;
  name: string;
  type: AgentType;
  status: AgentStatus;
  capabilities: string[];
  endpoints: Record<string, unknown>;
  resources: Record<string, unknown>;
  metadata: Record<string, unknown>;
  max_parallel_tasks: number;
  current_load: number;
  running_tasks: number;
  last_heartbeat: string;
  created_at: string;
}

export interface Task {
  id: string;
  type: string;
  status: TaskStatus;
  priority: TaskPriority;
  payload: unknown;
  required_capabilities: string[];
  progress: number;
  attempt: number;
  max_attempts: number;
  assigned_agent: string | null;
  lease_expires_at: string | null;
  timeout: number;
  depends_on: string[];
  file_dependencies: { path: string; access: LockAccess }[];
  pipeline_id: string | null;
  run_id: string | null;
  stage: string | null;
  workflow_id: string | null;
  key: string | null;
  result: unknown;
  error: unknown;
  ra_history: RaHistory | null;
  execution_time: number | null;
  metadata: Record<string, unknown>;
  logs?: { attempt: number; level: string; message: string; timestamp: string }[];
  run_at: string | null;
  created_at: string;
  started_at: string | null;
  updated_at: string;
  completed_at: string | null;
  next_attempt_at: string | null;
}

/** Seed 000's RAHistory: the Reason-Act loop of one run. */
export interface RaHistory {
  iterations: { thought?: string; action?: unknown; observation?: unknown; timestamp?: string }[];
  final_result?: unknown;
}
export * from './events';
