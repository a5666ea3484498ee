import { Permission } from '../access/permissions';

/** What `agentmanager://<kind>/<id>` names, the permission reading it needs, and the event that changes it. */
export interface ResourceKind {
  kind: string;
  name: string;
  description: string;
  permission: Permission;
  /** The event type and payload field that identify a change to this resource. */
  eventType: string;
  eventIdField: string;
}

export const RESOURCE_KINDS: readonly ResourceKind[] = [
  {
    kind: 'tasks',
    name: 'task',
    description: 'A task as JSON (as get_task returns it). Subscribe to hear when its status, progress or attempt changes.',
    permission: Permission.TasksRead,
    eventType: 'task_update',
    eventIdField: 'task_id',
  },
  {
    kind: 'agents',
    name: 'agent',
    description: 'An agent as JSON. Subscribe to hear when its status or load changes.',
    permission: Permission.AgentsRead,
    eventType: 'agent_update',
    eventIdField: 'agent_id',
  },
];

/** Present when the workflows module is part of the app. */
export const WORKFLOW_RESOURCE: ResourceKind = {
  kind: 'workflows',
  name: 'workflow',
  description: 'A workflow as JSON (as get_workflow returns it). Subscribe to hear when its status or task counts change.',
  permission: Permission.WorkflowsRead,
  eventType: 'workflow_update',
  eventIdField: 'workflow_id',
};

/** Present when the pipelines module is part of the app. */
export const PIPELINE_RUN_RESOURCE: ResourceKind = {
  kind: 'pipeline-runs',
  name: 'pipeline-run',
  description: 'A pipeline run as JSON (as get_pipeline_run returns it). Subscribe to hear when a stage or the run changes.',
  permission: Permission.PipelinesRead,
  eventType: 'pipeline_progress',
  eventIdField: 'run_id',
};

const URI = /^agentmanager:\/\/([a-z-]+)\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i;

export const resourceUri = (kind: string, id: string): string => `agentmanager://${kind}/${id.toLowerCase()}`;

export function parseResourceUri(uri: string, kinds: readonly ResourceKind[] = RESOURCE_KINDS): { kind: ResourceKind; id: string } | null {
  const match = URI.exec(uri);
  const kind = match && kinds.find((k) => k.kind === match[1]);
  return kind && match ? { kind, id: match[2].toLowerCase() } : null;
}

const EVENT_KINDS = [...RESOURCE_KINDS, WORKFLOW_RESOURCE, PIPELINE_RUN_RESOURCE];

/** The resource an outbox event is about (subscriptions exist only for kinds the app serves). */
export function uriOfEvent(event: { type: string; payload: Record<string, unknown> }, kinds: readonly ResourceKind[] = EVENT_KINDS): string | null {
  const kind = kinds.find((k) => k.eventType === event.type);
  const id = kind && event.payload[kind.eventIdField];
  return kind && typeof id === 'string' ? resourceUri(kind.kind, id) : null;
}
