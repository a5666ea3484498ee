import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import type { TaskFileLocks } from '../tasks/task-hooks';
import type { LockReleaseReason } from './file-lock.entity';
import { FileLocksService } from './file-locks.service';

const TASK_RELEASE_REASONS: readonly string[] = ['task_finished', 'agent_deregistered', 'agent_offline', 'agent_disabled'];

/**
 * The tasks module's view of file locks (TASK_FILE_LOCKS). Audit rows recorded here join the
 * caller's transaction and are written just before it commits, like every audit row.
 */
@Injectable()
export class TaskFileLocksAdapter implements TaskFileLocks {
  constructor(
    private readonly locks: FileLocksService,
    private readonly audit: AuditService,
  ) {}

  async tryAcquireForTask(
    manager: EntityManager,
    holder: { type: 'agent'; id: string },
    taskId: string,
    deps: { path: string; access: string }[],
    ttlSec: number,
  ): Promise<{ ok: true } | { ok: false; conflicts: unknown[] }> {
    const outcome = await this.locks.acquireForTask(manager, {
      actor: { type: 'agent', id: holder.id },
      agentId: holder.id,
      taskId,
      dependencies: deps,
      ttlSec,
    });
    if (!outcome.ok) return outcome;
    await this.audit.recordMany(manager, outcome.audit);
    return outcome;
  }

  async releaseForTask(manager: EntityManager, taskId: string, reason: string): Promise<void> {
    const why = (TASK_RELEASE_REASONS.includes(reason) ? reason : 'task_finished') as LockReleaseReason;
    const { audit } = await this.locks.releaseForTask(manager, taskId, undefined, why);
    await this.audit.recordMany(manager, audit);
  }

  async renewForTask(manager: EntityManager, taskId: string, ttlSec: number): Promise<void> {
    await this.locks.renewForTasks(manager, [taskId], ttlSec);
  }
}
