import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import { CAPABILITY_PATTERN } from '../../agents/dto/agent.dto';
import { ListQueryDto } from '../../common/list-query.dto';
import { FileDependencyDto, TASK_TYPE_PATTERN, TaskDto } from '../../tasks/dto/task.dto';

export const KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
export const MAX_WORKFLOW_TASKS = 500;

export class WorkflowTaskInputDto {
  @ApiProperty({ example: 'fetch', description: 'Unique within the workflow; depends_on names these' })
  @IsString()
  @Matches(KEY_PATTERN, { message: 'key must be 1-128 letters, digits or . _ : -' })
  key: string;

  @ApiProperty({ example: 'code_review' })
  @IsString()
  @Matches(TASK_TYPE_PATTERN, { message: 'type must be 1-128 letters, digits or . _ : / -' })
  type: string;

  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(10_000) description?: string;

  @ApiPropertyOptional({ description: 'Any JSON value handed to the worker' }) @IsOptional() payload?: unknown;

  @ApiPropertyOptional({ type: [String], description: 'Defaults to [type]' })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(50)
  @Matches(CAPABILITY_PATTERN, { each: true, message: 'each capability must be 1-128 letters, digits or . _ : / -' })
  required_capabilities?: string[];

  @ApiPropertyOptional({ type: [String], description: 'Keys of tasks of this workflow that must complete first' })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100)
  @IsString({ each: true })
  @MaxLength(128, { each: true })
  depends_on?: string[];

  @ApiPropertyOptional({ type: [FileDependencyDto] })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100)
  @ValidateNested({ each: true })
  @Type(() => FileDependencyDto)
  file_dependencies?: FileDependencyDto[];

  @ApiPropertyOptional({ enum: ['high', 'medium', 'low'], default: 'medium' })
  @IsOptional()
  @IsIn(['high', 'medium', 'low'])
  priority?: 'high' | 'medium' | 'low';

  @ApiPropertyOptional({ default: 300, minimum: 1, maximum: 604800 }) @IsOptional() @IsInt() @Min(1) @Max(604_800) timeout?: number;
  @ApiPropertyOptional({ default: 3, minimum: 0, maximum: 100 }) @IsOptional() @IsInt() @Min(0) @Max(100) retry_count?: number;
}

export class AuditSpecDto {
  @ApiProperty({ type: [String], example: ['auditor'] })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(50)
  @Matches(CAPABILITY_PATTERN, { each: true, message: 'each capability must be 1-128 letters, digits or . _ : / -' })
  required_capabilities: string[];

  @ApiProperty({ minimum: 0, maximum: 20, description: 'Rework cycles allowed before the workflow fails' })
  @IsInt()
  @Min(0)
  @Max(20)
  max_rework_cycles: number;
}

export class PlanSpecDto {
  @ApiProperty({ type: [String], example: ['planner'] })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(50)
  @Matches(CAPABILITY_PATTERN, { each: true, message: 'each capability must be 1-128 letters, digits or . _ : / -' })
  required_capabilities: string[];
}

export class CreateWorkflowDto {
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(200) name?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(10_000) description?: string;

  @ApiPropertyOptional({ type: [WorkflowTaskInputDto], description: 'The graph; omit it when `plan` is given' })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_WORKFLOW_TASKS)
  @ValidateNested({ each: true })
  @Type(() => WorkflowTaskInputDto)
  tasks?: WorkflowTaskInputDto[];

  @ApiPropertyOptional({ type: AuditSpecDto }) @IsOptional() @ValidateNested() @Type(() => AuditSpecDto) audit?: AuditSpecDto;
  @ApiPropertyOptional({ type: PlanSpecDto }) @IsOptional() @ValidateNested() @Type(() => PlanSpecDto) plan?: PlanSpecDto;
}

/** The planner's result: `{tasks: [...]}`, validated like a submitted graph. */
export class PlanResultDto {
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_WORKFLOW_TASKS)
  @ValidateNested({ each: true })
  @Type(() => WorkflowTaskInputDto)
  tasks: WorkflowTaskInputDto[];
}

export class ListWorkflowsQueryDto extends ListQueryDto {
  @ApiPropertyOptional({ enum: ['planning', 'running', 'auditing', 'completed', 'failed', 'cancelled'] })
  @IsOptional()
  @IsIn(['planning', 'running', 'auditing', 'completed', 'failed', 'cancelled'])
  status?: string;
}

export class AuditReportDto {
  @ApiProperty() id: string;
  @ApiProperty() task_id: string;
  @ApiProperty() rework_cycle: number;
  @ApiProperty() is_successful: boolean;
  @ApiProperty({ nullable: true, type: String }) feedback: string | null;
  @ApiProperty({ type: 'array', items: { type: 'object' } }) rework_suggestions: unknown;
  @ApiProperty({ nullable: true, type: Number }) confidence_score: number | null;
  @ApiProperty() created_at: string;
}

export class WorkflowDto {
  @ApiProperty() id: string;
  @ApiProperty({ nullable: true, type: String }) name: string | null;
  @ApiProperty({ nullable: true, type: String }) description: string | null;
  @ApiProperty({ enum: ['planning', 'running', 'auditing', 'completed', 'failed', 'cancelled'] }) status: string;
  @ApiProperty() total_tasks: number;
  @ApiProperty() completed_tasks: number;
  @ApiProperty() rework_cycle: number;
  @ApiProperty({ nullable: true }) audit: unknown;
  @ApiProperty({ nullable: true }) plan: unknown;
  @ApiProperty({ nullable: true, type: String }) planner_task_id: string | null;
  @ApiProperty({ nullable: true, type: String }) audit_task_id: string | null;
  @ApiProperty({ nullable: true, description: '{code, message, details} when failed' }) error: unknown;
  @ApiProperty({ type: [TaskDto], description: 'The graph tasks (not the planner or audit tasks)' }) tasks: TaskDto[];
  @ApiProperty({ type: [AuditReportDto] }) audit_reports: AuditReportDto[];
  @ApiProperty() created_at: string;
  @ApiProperty() updated_at: string;
  @ApiProperty({ nullable: true, type: String }) completed_at: string | null;
}

export class WorkflowListDto {
  @ApiProperty({ type: [WorkflowDto] }) workflows: WorkflowDto[];
  @ApiProperty({ nullable: true, type: String }) next_cursor: string | null;
}
