import type { EntityManager } from 'typeorm';
import type { EventsService } from '../events/events.service';
import type { TaskRow } from './tasks.repository';

/**
 * task_update for every change of a task, and an `error` event when an attempt fails. Scoped to
 * the holding agent, so an agent credential sees its own tasks (a cancel included).
 */
export function emitTaskEvents(events: EventsService, manager: EntityManager, task: TaskRow): void {
  const timestamp = new Date().toISOString();
  events.emit(
    manager,
    {
      type: 'task_update',
      task_id: task.id,
      status: task.status,
      progress: task.progress,
      attempt: task.attempt,
      assigned_agent: task.assigned_agent,
      pipeline_id: task.pipeline_id,
      run_id: task.run_id,
      workflow_id: task.workflow_id,
      timestamp,
    },
    { agentId: task.assigned_agent },
  );
  if ((task.status === 'failed' || task.status === 'retrying') && task.error && typeof task.error === 'object') {
    const error = task.error as { code?: unknown; message?: unknown };
    const code = typeof error.code === 'string' ? error.code : 'task_failed';
    events.emit(
      manager,
      {
        type: 'error',
        task_id: task.id,
        ...(task.run_id ? { run_id: task.run_id } : {}),
        error: code,
        details: { code, message: typeof error.message === 'string' ? error.message : 'The task attempt failed' },
        timestamp,
      },
      { agentId: task.assigned_agent },
    );
  }
}
