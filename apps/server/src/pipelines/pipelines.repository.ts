import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { rows } from '@agentmanager/database';
import { cursorTimestamp, cursorTimestampParam } from '../common/pagination';
import type { TaskRow } from '../tasks/tasks.repository';

export interface StageSpec {
  name: string;
  type: string;
  required: boolean;
  timeout?: number;
  retry_count?: number;
  required_capabilities?: string[];
}
export interface DependencySpec {
  from: string;
  to: string;
}

export interface PipelineRow {
  id: string;
  name: string;
  description: string | null;
  current_version: number;
  archived_at: Date | null;
  created_by: string;
  created_at: Date;
  updated_at: Date;
  stages: StageSpec[];
  dependencies: DependencySpec[];
}

export interface RunStage {
  index: number;
  name: string;
  type: string;
  required: boolean;
  task_id: string;
  depends_on: number[];
  skipped: boolean;
}

export interface RunRow {
  id: string;
  pipeline_id: string;
  pipeline_version: number;
  status: 'running' | 'completed' | 'failed' | 'cancelled';
  stages: RunStage[];
  input_data: unknown;
  parameters: unknown;
  output_data: unknown;
  notification: { webhook?: string; email?: string } | null;
  error: unknown;
  created_by: string;
  created_at: Date;
  updated_at: Date;
  completed_at: Date | null;
}

const PIPELINE = `SELECT p.*, v.stages, v.dependencies FROM pipelines p
  JOIN pipeline_versions v ON v.pipeline_id = p.id AND v.version = p.current_version`;

@Injectable()
export class PipelinesRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async insert(manager: EntityManager, p: { name: string; description: string | null; createdBy: string }): Promise<{ id: string }> {
    const r = await rows<{ id: string }>(
      manager,
      'INSERT INTO pipelines (name, description, created_by) VALUES ($1, $2, $3) RETURNING id',
      [p.name, p.description, p.createdBy],
    );
    return r[0];
  }

  async insertVersion(
    manager: EntityManager,
    v: { pipelineId: string; version: number; name: string; description: string | null; stages: StageSpec[]; dependencies: DependencySpec[]; createdBy: string },
  ): Promise<void> {
    await manager.query(
      `INSERT INTO pipeline_versions (pipeline_id, version, name, description, stages, dependencies, created_by)
       VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7)`,
      [v.pipelineId, v.version, v.name, v.description, JSON.stringify(v.stages), JSON.stringify(v.dependencies), v.createdBy],
    );
  }

  async setCurrent(manager: EntityManager, id: string, v: { version: number; name: string; description: string | null }): Promise<void> {
    await manager.query(
      'UPDATE pipelines SET current_version = $2, name = $3, description = $4, updated_at = clock_timestamp() WHERE id = $1',
      [id, v.version, v.name, v.description],
    );
  }

  async archive(manager: EntityManager, id: string): Promise<void> {
    await manager.query('UPDATE pipelines SET archived_at = clock_timestamp(), updated_at = clock_timestamp() WHERE id = $1', [id]);
  }

  async findById(id: string, manager: EntityManager = this.dataSource.manager, lock = false): Promise<PipelineRow | undefined> {
    return (await rows<PipelineRow>(manager, `${PIPELINE} WHERE p.id = $1 ${lock ? 'FOR UPDATE OF p' : ''}`, [id]))[0];
  }

  async list(includeArchived: boolean, limit: number, before?: [string, string]): Promise<(PipelineRow & { cursor_ts: string })[]> {
    const params: unknown[] = [];
    const clauses: string[] = [];
    if (!includeArchived) clauses.push('p.archived_at IS NULL');
    if (before) {
      params.push(before[0], before[1]);
      clauses.push(`(p.created_at, p.id) < (${cursorTimestampParam(`$${params.length - 1}`)}, $${params.length}::uuid)`);
    }
    params.push(limit);
    return rows<PipelineRow & { cursor_ts: string }>(
      this.dataSource.manager,
      `SELECT p.*, v.stages, v.dependencies, ${cursorTimestamp('p.created_at')} AS cursor_ts FROM pipelines p
         JOIN pipeline_versions v ON v.pipeline_id = p.id AND v.version = p.current_version
        ${clauses.length ? `WHERE ${clauses.join(' AND ')}` : ''}
        ORDER BY p.created_at DESC, p.id DESC LIMIT $${params.length}`,
      params,
    );
  }

  async insertRun(
    manager: EntityManager,
    r: { pipelineId: string; version: number; inputData: unknown; parameters: unknown; notification: unknown; createdBy: string },
  ): Promise<RunRow> {
    const out = await rows<RunRow>(
      manager,
      `INSERT INTO pipeline_runs (pipeline_id, pipeline_version, status, stages, input_data, parameters, notification, created_by)
       VALUES ($1, $2, 'running', '[]'::jsonb, $3::jsonb, $4::jsonb, $5::jsonb, $6) RETURNING *`,
      [r.pipelineId, r.version, JSON.stringify(r.inputData ?? null), JSON.stringify(r.parameters ?? null), r.notification ? JSON.stringify(r.notification) : null, r.createdBy],
    );
    return out[0];
  }

  async findRun(id: string, manager: EntityManager = this.dataSource.manager): Promise<RunRow | undefined> {
    return (await rows<RunRow>(manager, 'SELECT * FROM pipeline_runs WHERE id = $1', [id]))[0];
  }

  async lockRun(manager: EntityManager, id: string): Promise<RunRow | undefined> {
    return (await rows<RunRow>(manager, 'SELECT * FROM pipeline_runs WHERE id = $1 FOR UPDATE', [id]))[0];
  }

  async updateRun(
    manager: EntityManager,
    id: string,
    set: { status?: RunRow['status']; stages?: RunStage[]; outputData?: unknown; error?: unknown },
  ): Promise<RunRow> {
    const out = await rows<RunRow>(
      manager,
      `UPDATE pipeline_runs SET
          status = COALESCE($2, status),
          stages = COALESCE($3::jsonb, stages),
          output_data = CASE WHEN $4::boolean THEN $5::jsonb ELSE output_data END,
          error = CASE WHEN $6::boolean THEN $7::jsonb ELSE error END,
          completed_at = CASE WHEN COALESCE($2, status) <> 'running' THEN COALESCE(completed_at, clock_timestamp()) ELSE NULL END,
          updated_at = clock_timestamp()
        WHERE id = $1 RETURNING *`,
      [
        id,
        set.status ?? null,
        set.stages ? JSON.stringify(set.stages) : null,
        set.outputData !== undefined,
        JSON.stringify(set.outputData ?? null),
        set.error !== undefined,
        JSON.stringify(set.error ?? null),
      ],
    );
    return out[0];
  }

  async listRuns(pipelineId: string | undefined, limit: number, before?: [string, string]): Promise<(RunRow & { cursor_ts: string })[]> {
    const params: unknown[] = [];
    const clauses: string[] = [];
    if (pipelineId) clauses.push(`pipeline_id = $${params.push(pipelineId)}`);
    if (before) {
      params.push(before[0], before[1]);
      clauses.push(`(created_at, id) < (${cursorTimestampParam(`$${params.length - 1}`)}, $${params.length}::uuid)`);
    }
    params.push(limit);
    return rows<RunRow & { cursor_ts: string }>(
      this.dataSource.manager,
      `SELECT *, ${cursorTimestamp('created_at')} AS cursor_ts FROM pipeline_runs ${clauses.length ? `WHERE ${clauses.join(' AND ')}` : ''}
        ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
      params,
    );
  }

  async runTasks(runIds: string[], manager: EntityManager = this.dataSource.manager): Promise<TaskRow[]> {
    return rows<TaskRow>(manager, 'SELECT * FROM tasks WHERE run_id = ANY($1::uuid[]) ORDER BY created_at, id', [runIds]);
  }

  /** Every unfinished task of a run, row-locked. */
  async lockOpenRunTasks(manager: EntityManager, runId: string): Promise<TaskRow[]> {
    return rows<TaskRow>(
      manager,
      `SELECT * FROM tasks WHERE run_id = $1 AND status IN ('pending', 'ready', 'retrying', 'running') ORDER BY id FOR UPDATE`,
      [runId],
    );
  }
}
