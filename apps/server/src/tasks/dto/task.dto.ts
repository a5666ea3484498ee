import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsDate,
  IsIn,
  IsInt,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  IsUUID,
  Matches,
  Max,
  MaxLength,
  Min,
  MinDate,
  ValidateNested,
} from 'class-validator';
import { CAPABILITY_PATTERN } from '../../agents/dto/agent.dto';
import { EARLIEST_DATE, INT4_MAX } from '../../common/input-guard';
import { ListQueryDto } from '../../common/list-query.dto';
import { IsLockPath } from '../../common/lock-path';

export const TASK_TYPE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/;

export class FileDependencyDto {
  @ApiProperty({ example: 'src/app.ts', description: 'Repository-relative; a trailing / locks a directory' })
  @IsString()
  @IsLockPath()
  path: string;

  @ApiProperty({ enum: ['read', 'write', 'exclusive'] })
  @IsIn(['read', 'write', 'exclusive'])
  access: 'read' | 'write' | 'exclusive';
}

export class CreateTaskDto {
  @ApiProperty({ example: 'code_review' })
  @IsString()
  @Matches(TASK_TYPE_PATTERN, { message: 'type must be 1-128 letters, digits or . _ : / -' })
  type: string;

  @ApiPropertyOptional({ description: 'Any JSON value handed to the worker', default: {} })
  @IsOptional()
  payload?: unknown;

  @ApiPropertyOptional({ enum: ['high', 'medium', 'low'], default: 'medium' })
  @IsOptional()
  @IsIn(['high', 'medium', 'low'])
  priority?: 'high' | 'medium' | 'low';

  @ApiPropertyOptional({ type: [String], description: 'Defaults to [type]' })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(50)
  @Matches(CAPABILITY_PATTERN, { each: true, message: 'each capability must be 1-128 letters, digits or . _ : / -' })
  required_capabilities?: string[];

  @ApiPropertyOptional({ description: 'Seconds one attempt may run', default: 300, minimum: 1, maximum: 604800 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(604_800)
  timeout?: number;

  @ApiPropertyOptional({ description: 'Retries after the first attempt (max_attempts = retry_count + 1)', default: 3 })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(100)
  retry_count?: number;

  @ApiPropertyOptional({ format: 'uuid' }) @IsOptional() @IsUUID() pipeline_id?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(128) stage?: string;

  @ApiPropertyOptional({ type: [String], description: 'Task ids that must complete first' })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100)
  @IsUUID('all', { each: true })
  depends_on?: string[];

  @ApiPropertyOptional({ type: [FileDependencyDto], description: 'Locked atomically when the task is claimed' })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100)
  @ValidateNested({ each: true })
  @Type(() => FileDependencyDto)
  file_dependencies?: FileDependencyDto[];

  @ApiPropertyOptional({ description: 'Not claimable before this time (ISO-8601)' })
  @IsOptional()
  @Type(() => Date)
  @IsDate()
  @MinDate(EARLIEST_DATE, { message: 'run_at must be in year 1 or later' })
  run_at?: Date;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true })
  @IsOptional()
  @IsObject()
  metadata?: Record<string, unknown>;
}

export class ListTasksQueryDto extends ListQueryDto {
  @ApiPropertyOptional({ enum: ['pending', 'ready', 'running', 'completed', 'retrying', 'failed', 'cancelled'] })
  @IsOptional()
  @IsIn(['pending', 'ready', 'running', 'completed', 'retrying', 'failed', 'cancelled'])
  status?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(128) type?: string;
  @ApiPropertyOptional({ format: 'uuid' }) @IsOptional() @IsUUID() pipeline_id?: string;
  @ApiPropertyOptional({ format: 'uuid' }) @IsOptional() @IsUUID() run_id?: string;
  @ApiPropertyOptional({ format: 'uuid' }) @IsOptional() @IsUUID() workflow_id?: string;
  @ApiPropertyOptional({ format: 'uuid' }) @IsOptional() @IsUUID() agent_id?: string;
}

export class ClaimTasksDto {
  @ApiProperty({ format: 'uuid' }) @IsUUID() agent_id: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 1 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(100)
  max_tasks?: number;

  @ApiPropertyOptional({ minimum: 0, maximum: 30, default: 0, description: 'Long-poll: hold the request until a task is claimable' })
  @IsOptional()
  @IsNumber()
  @Min(0)
  @Max(30)
  wait_seconds?: number;
}

export class TaskLogInputDto {
  @ApiProperty({ enum: ['debug', 'info', 'warn', 'error'] })
  @IsIn(['debug', 'info', 'warn', 'error'])
  level: string;

  @ApiProperty() @IsString() @MaxLength(10_000) message: string;
}

/** agent_id + attempt: the fencing pair every report must carry. */
export class FencedDto {
  @ApiProperty({ format: 'uuid' }) @IsUUID() agent_id: string;

  @ApiProperty({ description: 'The attempt number the task was claimed with (the fencing token)', minimum: 1, maximum: INT4_MAX })
  @IsInt()
  @Min(1)
  // The column is int4: a larger number would be a 500 from PostgreSQL, not a stale attempt.
  @Max(INT4_MAX)
  attempt: number;
}

export class ProgressDto extends FencedDto {
  @ApiProperty({ minimum: 0, maximum: 1 }) @IsNumber() @Min(0) @Max(1) progress: number;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(10_000) message?: string;

  @ApiPropertyOptional({ type: [TaskLogInputDto] })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100)
  @ValidateNested({ each: true })
  @Type(() => TaskLogInputDto)
  logs?: TaskLogInputDto[];
}

export class RaIterationDto {
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(100_000) thought?: string;
  @ApiPropertyOptional() @IsOptional() action?: unknown;
  @ApiPropertyOptional() @IsOptional() observation?: unknown;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(64) timestamp?: string;
}

export class RaHistoryDto {
  @ApiProperty({ type: [RaIterationDto] })
  @IsArray()
  @ArrayMaxSize(1000)
  @ValidateNested({ each: true })
  @Type(() => RaIterationDto)
  iterations: RaIterationDto[];

  @ApiPropertyOptional() @IsOptional() final_result?: unknown;
}

export class CompleteDto extends FencedDto {
  @ApiPropertyOptional({ description: 'Any JSON value' }) @IsOptional() result?: unknown;

  @ApiPropertyOptional({ type: RaHistoryDto, description: 'The Reason-Act history of the run' })
  @IsOptional()
  @ValidateNested()
  @Type(() => RaHistoryDto)
  ra_history?: RaHistoryDto;

  @ApiPropertyOptional({ description: 'Seconds the worker spent' }) @IsOptional() @IsNumber() @Min(0) execution_time?: number;
}

export class TaskErrorDto {
  @ApiProperty() @IsString() @MaxLength(128) code: string;
  @ApiProperty() @IsString() @MaxLength(10_000) message: string;
  @ApiPropertyOptional() @IsOptional() details?: unknown;
}

export class FailDto extends FencedDto {
  @ApiProperty({ type: TaskErrorDto }) @ValidateNested() @Type(() => TaskErrorDto) error: TaskErrorDto;
  @ApiPropertyOptional({ default: true }) @IsOptional() @IsBoolean() retryable?: boolean;
}

export class TaskLogDto {
  @ApiProperty() attempt: number;
  @ApiProperty() level: string;
  @ApiProperty() message: string;
  @ApiProperty() timestamp: string;
}

export class TaskDto {
  @ApiProperty() id: string;
  @ApiProperty() type: string;
  @ApiProperty({ enum: ['pending', 'ready', 'running', 'completed', 'retrying', 'failed', 'cancelled'] }) status: string;
  @ApiProperty({ enum: ['high', 'medium', 'low'] }) priority: string;
  @ApiProperty() payload: unknown;
  @ApiProperty({ type: [String] }) required_capabilities: string[];
  @ApiProperty() progress: number;
  @ApiProperty() attempt: number;
  @ApiProperty() max_attempts: number;
  @ApiProperty({ nullable: true, type: String }) assigned_agent: string | null;
  @ApiProperty({ nullable: true, type: String }) lease_expires_at: string | null;
  @ApiProperty({ description: 'seconds' }) timeout: number;
  @ApiProperty({ type: [String] }) depends_on: string[];
  @ApiProperty({ type: [FileDependencyDto] }) file_dependencies: FileDependencyDto[];
  @ApiProperty({ nullable: true, type: String }) pipeline_id: string | null;
  @ApiProperty({ nullable: true, type: String }) run_id: string | null;
  @ApiProperty({ nullable: true, type: String }) stage: string | null;
  @ApiProperty({ nullable: true, type: String }) workflow_id: string | null;
  @ApiProperty({ nullable: true, type: String }) key: string | null;
  @ApiProperty({ nullable: true }) result: unknown;
  @ApiProperty({ nullable: true }) error: unknown;
  @ApiProperty({ nullable: true }) ra_history: unknown;
  @ApiProperty({ nullable: true, type: Number }) execution_time: number | null;
  @ApiProperty({ type: 'object', additionalProperties: true }) metadata: Record<string, unknown>;
  @ApiPropertyOptional({ type: [TaskLogDto], description: 'Only on GET /tasks/{id}' }) logs?: TaskLogDto[];
  @ApiProperty({ nullable: true, type: String }) run_at: string | null;
  @ApiProperty() created_at: string;
  @ApiProperty({ nullable: true, type: String }) started_at: string | null;
  @ApiProperty() updated_at: string;
  @ApiProperty({ nullable: true, type: String }) completed_at: string | null;
  @ApiProperty({ nullable: true, type: String }) next_attempt_at: string | null;
}

export class TaskListDto {
  @ApiProperty({ type: [TaskDto] }) tasks: TaskDto[];
  @ApiProperty({ nullable: true, type: String }) next_cursor: string | null;
}

export class ClaimResultDto {
  @ApiProperty({ type: [TaskDto] }) tasks: TaskDto[];
}
