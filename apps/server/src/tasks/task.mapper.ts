import { iso } from '../common/iso';
import type { TaskDto, TaskLogDto } from './dto/task.dto';
import { PRIORITY_NAME } from './task.entity';
import type { TaskLogRow, TaskRow } from './tasks.repository';


export function toTaskDto(row: TaskRow, logs?: TaskLogRow[]): TaskDto {
  return {
    id: row.id,
    type: row.type,
    status: row.status,
    priority: PRIORITY_NAME[row.priority],
    payload: row.payload,
    required_capabilities: row.required_capabilities,
    progress: row.progress,
    attempt: row.attempt,
    max_attempts: row.max_attempts,
    assigned_agent: row.assigned_agent,
    lease_expires_at: iso(row.lease_expires_at),
    timeout: row.timeout_sec,
    depends_on: row.depends_on,
    file_dependencies: row.file_dependencies as TaskDto['file_dependencies'],
    pipeline_id: row.pipeline_id,
    run_id: row.run_id,
    stage: row.stage,
    workflow_id: row.workflow_id,
    key: row.key,
    result: row.result,
    error: row.error,
    ra_history: row.ra_history,
    execution_time: row.execution_time,
    metadata: row.metadata,
    ...(logs ? { logs: logs.map(toLogDto) } : {}),
    run_at: iso(row.run_at),
    created_at: row.created_at.toISOString(),
    started_at: iso(row.started_at),
    updated_at: row.updated_at.toISOString(),
    completed_at: iso(row.completed_at),
    next_attempt_at: iso(row.next_attempt_at),
  };
}

function toLogDto(row: TaskLogRow): TaskLogDto {
  return { attempt: row.attempt, level: row.level, message: row.message, timestamp: row.created_at.toISOString() };
}
