import type { AgentStatus, AgentType, LockAccess, RaHistory, Task, TaskPriority } from '@agentmanager/contracts';

/** Wire shapes from API.md that libs/contracts does not carry (yet); the client's own view. */

export interface ListQuery {
  limit?: number;
  cursor?: string;
}

export interface Me {
  id: string;
  username: string;
  email: string | null;
  roles: string[];
  permissions: string[];
}

export interface User {
  id: string;
  username: string;
  email: string | null;
  roles: string[];
  disabled: boolean;
  created_at: string;
  [k: string]: unknown;
}

export interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  roles: string[];
  created_by?: string;
  expires_at: string | null;
  revoked_at?: string | null;
  last_used_at?: string | null;
  created_at: string;
  [k: string]: unknown;
}

export interface CreatedApiKey extends ApiKey {
  /** The secret; shown only once. */
  key: string;
}

export interface Lock {
  id: string;
  path: string;
  access: LockAccess;
  holder: { type: 'agent' | 'user'; id: string };
  task_id: string | null;
  fencing_token: number | string;
  acquired_at: string;
  expires_at: string;
  [k: string]: unknown;
}

export interface RegisterAgentBody {
  name: string;
  type: AgentType;
  capabilities: string[];
  endpoints?: Record<string, unknown>;
  resources?: Record<string, unknown>;
  max_parallel_tasks?: number;
  metadata?: Record<string, unknown>;
}

export interface HeartbeatResult {
  server_time: string;
  heartbeat_interval_sec: number;
  lease_extended: number;
}

export interface FileDependency {
  path: string;
  access: LockAccess;
}

export interface CreateTaskBody {
  type: string;
  payload?: unknown;
  priority?: TaskPriority;
  required_capabilities?: string[];
  timeout?: number;
  retry_count?: number;
  pipeline_id?: string;
  stage?: string;
  depends_on?: string[];
  file_dependencies?: FileDependency[];
  run_at?: string;
  metadata?: Record<string, unknown>;
}

export interface TaskQuery extends ListQuery {
  status?: string;
  type?: string;
  pipeline_id?: string;
  run_id?: string;
  workflow_id?: string;
  agent_id?: string;
}

export interface AgentQuery extends ListQuery {
  capability?: string;
  status?: AgentStatus;
  type?: AgentType;
}

export interface LockQuery extends ListQuery {
  path?: string;
  agent_id?: string;
  task_id?: string;
}

export interface TaskError {
  code: string;
  message: string;
  details?: unknown;
}

export interface CompleteBody {
  result?: unknown;
  ra_history?: RaHistory;
  execution_time?: number;
}

export interface ProgressBody {
  progress: number;
  message?: string;
  logs?: { level: string; message: string }[];
}

export interface AcquireLockBody {
  path: string;
  access: LockAccess;
  agent_id?: string;
  ttl_seconds?: number;
  task_id?: string;
  wait_seconds?: number;
}

/** API.md's workflow; further fields a newer server adds stay readable through the index signature. */
export interface Workflow {
  id: string;
  name: string | null;
  description: string | null;
  status: 'planning' | 'running' | 'auditing' | 'completed' | 'failed' | 'cancelled';
  total_tasks: number;
  completed_tasks: number;
  rework_cycle: number;
  tasks?: Task[];
  audit_reports?: unknown[];
  created_at: string;
  completed_at: string | null;
  [k: string]: unknown;
}

export interface PipelineStage {
  name: string;
  type: string;
  required?: boolean;
  timeout?: number;
  required_capabilities?: string[];
  retry_count?: number;
}

export interface Pipeline {
  id: string;
  name: string;
  description: string | null;
  version: number;
  status: string;
  stages: PipelineStage[];
  dependencies: { from: string; to: string }[];
  created_at: string;
  [k: string]: unknown;
}

export interface PipelineRunStage {
  index: number;
  name: string;
  status: string;
  task_id: string;
  started_at: string | null;
  completed_at: string | null;
}

export interface PipelineRun {
  id: string;
  pipeline_id: string;
  pipeline_version: number;
  status: 'running' | 'completed' | 'failed' | 'cancelled';
  current_stage: number | null;
  completed_stages: number[];
  progress: number;
  stages: PipelineRunStage[];
  input_data: unknown;
  output_data: unknown;
  error?: TaskError | null;
  created_at: string;
  completed_at: string | null;
  [k: string]: unknown;
}
