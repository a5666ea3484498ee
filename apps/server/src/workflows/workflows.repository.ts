import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { rows } from '@agentmanager/database';
import { cursorTimestamp, cursorTimestampParam } from '../common/pagination';
import type { TaskRow } from '../tasks/tasks.repository';
import type { WorkflowStatus } from './workflow.entity';

export interface WorkflowRow {
  id: string;
  name: string | null;
  description: string | null;
  status: WorkflowStatus;
  audit: { required_capabilities: string[]; max_rework_cycles: number } | null;
  plan: { required_capabilities: string[] } | null;
  rework_cycle: number;
  planner_task_id: string | null;
  audit_task_id: string | null;
  error: unknown;
  created_by: string;
  created_at: Date;
  updated_at: Date;
  completed_at: Date | null;
}

export type ListedWorkflowRow = WorkflowRow & { cursor_ts: string };

export interface AuditReportRow {
  id: string;
  workflow_id: string;
  task_id: string;
  rework_cycle: number;
  is_successful: boolean;
  feedback: string | null;
  rework_suggestions: unknown;
  confidence_score: number | null;
  created_at: Date;
}

const OPEN = `('pending', 'ready', 'retrying', 'running')`;

@Injectable()
export class WorkflowsRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async insert(
    manager: EntityManager,
    w: { name: string | null; description: string | null; status: WorkflowStatus; audit: unknown; plan: unknown; createdBy: string },
  ): Promise<WorkflowRow> {
    const r = await rows<WorkflowRow>(
      manager,
      `INSERT INTO workflows (name, description, status, audit, plan, created_by) VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6) RETURNING *`,
      [w.name, w.description, w.status, w.audit === null ? null : JSON.stringify(w.audit), w.plan === null ? null : JSON.stringify(w.plan), w.createdBy],
    );
    return r[0];
  }

  async findById(id: string, manager: EntityManager = this.dataSource.manager): Promise<WorkflowRow | undefined> {
    return (await rows<WorkflowRow>(manager, 'SELECT * FROM workflows WHERE id = $1', [id]))[0];
  }

  async lockById(manager: EntityManager, id: string): Promise<WorkflowRow | undefined> {
    return (await rows<WorkflowRow>(manager, 'SELECT * FROM workflows WHERE id = $1 FOR UPDATE', [id]))[0];
  }

  async list(filter: { status?: string }, limit: number, before?: [string, string]): Promise<ListedWorkflowRow[]> {
    const params: unknown[] = [];
    const clauses: string[] = [];
    if (filter.status) clauses.push(`status = $${params.push(filter.status)}`);
    if (before) {
      params.push(before[0], before[1]);
      clauses.push(`(created_at, id) < (${cursorTimestampParam(`$${params.length - 1}`)}, $${params.length}::uuid)`);
    }
    params.push(limit);
    return rows<ListedWorkflowRow>(
      this.dataSource.manager,
      `SELECT *, ${cursorTimestamp('created_at')} AS cursor_ts FROM workflows ${clauses.length ? `WHERE ${clauses.join(' AND ')}` : ''}
       ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
      params,
    );
  }

  async update(
    manager: EntityManager,
    id: string,
    set: { status?: WorkflowStatus; reworkCycle?: number; plannerTaskId?: string; auditTaskId?: string | null; error?: unknown },
  ): Promise<WorkflowRow> {
    const r = await rows<WorkflowRow>(
      manager,
      `UPDATE workflows SET
          status = COALESCE($2, status),
          rework_cycle = COALESCE($3, rework_cycle),
          planner_task_id = COALESCE($4, planner_task_id),
          audit_task_id = CASE WHEN $5::boolean THEN $6::uuid ELSE audit_task_id END,
          error = CASE WHEN $7::boolean THEN $8::jsonb ELSE error END,
          completed_at = CASE WHEN COALESCE($2, status) IN ('completed', 'failed', 'cancelled') THEN COALESCE(completed_at, clock_timestamp()) ELSE NULL END,
          updated_at = clock_timestamp()
        WHERE id = $1 RETURNING *`,
      [
        id,
        set.status ?? null,
        set.reworkCycle ?? null,
        set.plannerTaskId ?? null,
        set.auditTaskId !== undefined,
        set.auditTaskId ?? null,
        set.error !== undefined,
        set.error === undefined || set.error === null ? null : JSON.stringify(set.error),
      ],
    );
    return r[0];
  }

  /** The graph tasks (key set) of the given workflows, in creation order. */
  async graphTasks(workflowIds: string[], manager: EntityManager = this.dataSource.manager): Promise<TaskRow[]> {
    return rows<TaskRow>(
      manager,
      `SELECT * FROM tasks WHERE workflow_id = ANY($1::uuid[]) AND key IS NOT NULL ORDER BY created_at, id`,
      [workflowIds],
    );
  }

  /** Every unfinished task of a workflow (graph, planner and audit tasks), row-locked. */
  async lockOpenTasks(manager: EntityManager, workflowId: string): Promise<TaskRow[]> {
    return rows<TaskRow>(
      manager,
      `SELECT * FROM tasks WHERE workflow_id = $1 AND status IN ${OPEN} ORDER BY created_at, id FOR UPDATE`,
      [workflowId],
    );
  }

  async insertReport(
    manager: EntityManager,
    r: { workflowId: string; taskId: string; cycle: number; isSuccessful: boolean; feedback: string | null; suggestions: unknown; confidence: number | null },
  ): Promise<AuditReportRow> {
    const out = await rows<AuditReportRow>(
      manager,
      `INSERT INTO workflow_audit_reports (workflow_id, task_id, rework_cycle, is_successful, feedback, rework_suggestions, confidence_score)
       VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7) RETURNING *`,
      [r.workflowId, r.taskId, r.cycle, r.isSuccessful, r.feedback, JSON.stringify(r.suggestions), r.confidence],
    );
    return out[0];
  }

  async reports(workflowIds: string[], manager: EntityManager = this.dataSource.manager): Promise<AuditReportRow[]> {
    return rows<AuditReportRow>(
      manager,
      'SELECT * FROM workflow_audit_reports WHERE workflow_id = ANY($1::uuid[]) ORDER BY created_at, id',
      [workflowIds],
    );
  }
}
