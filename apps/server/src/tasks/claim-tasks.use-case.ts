import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { inTransaction } from '@agentmanager/database';
import { actingOwner, type Principal } from '../access/principal';
import { AuditService } from '../audit/audit.service';
import { DomainError, notFound } from '../common/errors';
import { PgListener, waitForWake } from '../database/pg-listener.service';
import { ShutdownState } from '../lifecycle/shutdown-state';
import { MetricsService } from '../metrics/metrics.service';
import type { ClaimTasksDto, TaskDto } from './dto/task.dto';
import { toTaskDto } from './task.mapper';
import { TASK_FILE_LOCKS, type TaskFileLocks,TaskHooks } from './task-hooks';
import { type TaskRow,TasksRepository } from './tasks.repository';
import { TasksService } from './tasks.service';

/** How often a long-poll re-checks even without a notification (notifications are only a hint). */
const RECHECK_MS = 1000;
/** Claim rounds per request when file-lock conflicts keep skipping candidates. */
const MAX_ROUNDS = 5;

/**
 * POST /tasks/claim. One short transaction per attempt: lock the agent row (so one agent's
 * concurrent claims take turns and never exceed max_parallel_tasks) and read which queues it
 * serves, then claim in one statement that also counts what the agent holds. Tasks with file
 * dependencies get their locks in the same transaction, or are skipped for the next candidate.
 * With wait_seconds, an empty claim waits for a notification (or a periodic re-check) and tries
 * again, until the deadline, the client leaving, or shutdown.
 */
@Injectable()
export class ClaimTasksUseCase {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly tasks: TasksRepository,
    private readonly service: TasksService,
    private readonly hooks: TaskHooks,
    private readonly audit: AuditService,
    private readonly listener: PgListener,
    private readonly shutdown: ShutdownState,
    @Inject(TASK_FILE_LOCKS) private readonly fileLocks: TaskFileLocks,
    private readonly metrics: MetricsService,
  ) {}

  async execute(principal: Principal, body: ClaimTasksDto, clientGone?: AbortSignal): Promise<TaskDto[]> {
    const deadline = Date.now() + (body.wait_seconds ?? 0) * 1000;
    const signal = this.shutdown.with(clientGone);
    for (;;) {
      const stopTimer = this.metrics.claimDuration.startTimer();
      const claimed = await this.claimOnce(principal, body.agent_id, body.max_tasks ?? 1);
      stopTimer({ outcome: claimed.length ? 'claimed' : 'empty' });
      this.metrics.tasksClaimed.inc(claimed.length);
      const left = deadline - Date.now();
      if (claimed.length > 0 || left <= 0 || signal.aborted) return claimed;
      await waitForWake(this.listener, 'am_tasks_ready', Math.min(left, RECHECK_MS + Math.random() * 100), signal);
      if (signal.aborted) return [];
    }
  }

  private async claimOnce(principal: Principal, agentId: string, maxTasks: number): Promise<TaskDto[]> {
    return inTransaction(this.dataSource, async (manager) => {
      const locked = await this.tasks.lockAgentForClaim(manager, agentId, actingOwner(principal));
      if (!locked) throw notFound('Agent', agentId);
      if (locked.status === 'disabled') {
        throw new DomainError('illegal_transition', 'This agent is disabled and cannot claim tasks', { status: locked.status });
      }
      // Draining and offline agents get nothing new (an offline agent that claims is alive again,
      // but must heartbeat to say so).
      if (locked.status !== 'active') return [];

      const claimed: TaskRow[] = [];
      const considered: string[] = [];
      // Until the first round has counted the agent's free slots, what the client asked for.
      let slots = maxTasks;
      for (let round = 0; round < MAX_ROUNDS && claimed.length < slots; round++) {
        const want = slots - claimed.length;
        const candidates = await this.tasks.claimRound(
          manager,
          agentId,
          locked.queues,
          want,
          locked.max_parallel_tasks,
          this.service.leaseSec,
          considered,
        );
        if (candidates.length === 0) break;
        // The round's free slots count this transaction's earlier claims as held.
        slots = claimed.length + candidates[0].free_slots;
        for (const c of candidates) {
          considered.push(c.id);
          if (c.claimed) {
            claimed.push(c);
            continue;
          }
          if (claimed.length >= slots) continue;
          const locks = await this.fileLocks.tryAcquireForTask(
            manager,
            { type: 'agent', id: agentId },
            c.id,
            c.file_dependencies,
            this.service.lockTtlFor(c),
          );
          if (locks.ok) claimed.push(await this.tasks.claimLocked(manager, c.id, agentId, this.service.leaseSec));
        }
        if (candidates.length < candidates[0].free_slots) break;
      }
      if (claimed.length === 0) return [];
      for (const task of claimed) await this.hooks.taskChanged(manager, task);
      await this.audit.recordMany(
        manager,
        claimed.map((t) => ({
          actor: { type: 'agent' as const, id: agentId },
          action: 'task.claim',
          resourceType: 'task',
          resourceId: t.id,
          details: { attempt: t.attempt },
        })),
      );
      return claimed.map((t) => toTaskDto(t));
    });
  }
}

