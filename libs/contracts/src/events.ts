/** Socket.IO event payloads, exactly as API.md names them. The event name equals `type`. */
export interface TaskUpdateEvent {
  type: 'task_update';
  seq: number;
  task_id: string;
  status: string;
  progress: number;
  attempt: number;
  assigned_agent: string | null;
  pipeline_id: string | null;
  run_id: string | null;
  workflow_id: string | null;
  timestamp: string;
}

export interface AgentUpdateEvent {
  type: 'agent_update';
  seq: number;
  agent_id: string;
  status: string;
  current_load: number;
  timestamp: string;
}

export interface PipelineProgressEvent {
  type: 'pipeline_progress';
  seq: number;
  pipeline_id: string;
  run_id: string;
  status: string;
  current_stage: number | null;
  completed_stages: number[];
  progress: number;
  timestamp: string;
}

export interface WorkflowUpdateEvent {
  type: 'workflow_update';
  seq: number;
  workflow_id: string;
  status: string;
  completed_tasks: number;
  total_tasks: number;
  timestamp: string;
}

export interface LockUpdateEvent {
  type: 'lock_update';
  seq: number;
  lock_id: string;
  path: string;
  access: string;
  state: 'acquired' | 'released' | 'expired';
  holder: { type: 'agent' | 'user'; id: string };
  timestamp: string;
}

export interface ErrorEvent {
  type: 'error';
  seq: number;
  task_id?: string;
  run_id?: string;
  error: string;
  details: { code: string; message: string };
  timestamp: string;
}

export type AgentManagerEvent =
  | TaskUpdateEvent
  | AgentUpdateEvent
  | PipelineProgressEvent
  | WorkflowUpdateEvent
  | LockUpdateEvent
  | ErrorEvent;

export type EventType = AgentManagerEvent['type'];

/** An event before the outbox gives it its `seq`. */
export type UnsequencedEvent = AgentManagerEvent extends infer E ? (E extends AgentManagerEvent ? Omit<E, 'seq'> : never) : never;

export type EventChannel = 'tasks' | 'agents' | 'pipelines' | 'workflows' | 'locks' | 'all';

export const EVENT_CHANNELS: readonly EventChannel[] = ['tasks', 'agents', 'pipelines', 'workflows', 'locks', 'all'];
