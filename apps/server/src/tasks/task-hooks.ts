import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { TaskRow } from './tasks.repository';

export type TaskHook = (manager: EntityManager, task: TaskRow) => Promise<void>;

/**
 * Runs inside the transaction that changes a task, so modules built on tasks (file locks,
 * workflows, pipelines, events) follow each change atomically without tasks depending on them.
 */
@Injectable()
export class TaskHooks {
  private readonly changed: TaskHook[] = [];

  /** Called after every status change (and progress), with the task as it now is. */
  onChanged(hook: TaskHook): void {
    this.changed.push(hook);
  }

  async taskChanged(manager: EntityManager, task: TaskRow): Promise<void> {
    for (const hook of this.changed) await hook(manager, task);
  }
}

/** What tasks need from the file-locks module, which provides it (globally) as TASK_FILE_LOCKS. */
export interface TaskFileLocks {
  tryAcquireForTask(
    manager: EntityManager,
    holder: { type: 'agent'; id: string },
    taskId: string,
    deps: { path: string; access: string }[],
    ttlSec: number,
  ): Promise<{ ok: true } | { ok: false; conflicts: unknown[] }>;
  releaseForTask(manager: EntityManager, taskId: string, reason: string): Promise<void>;
  renewForTask(manager: EntityManager, taskId: string, ttlSec: number): Promise<void>;
}

export const TASK_FILE_LOCKS = Symbol('TASK_FILE_LOCKS');
