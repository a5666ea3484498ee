import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsEmail,
  IsInt,
  IsOptional,
  IsString,
  IsUrl,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import { CAPABILITY_PATTERN } from '../../agents/dto/agent.dto';
import { ListQueryDto } from '../../common/list-query.dto';
import { TASK_TYPE_PATTERN } from '../../tasks/dto/task.dto';
import { KEY_PATTERN } from '../../workflows/dto/workflow.dto';

export const STANDARD_STAGES = ['ingestion', 'transformation', 'analysis', 'validation', 'processing', 'output'] as const;

export class StageDto {
  @ApiProperty({ example: 'ingestion', description: 'Unique within the pipeline' })
  @IsString()
  @Matches(KEY_PATTERN, { message: 'name must be 1-128 letters, digits or . _ : -' })
  name: string;

  @ApiProperty({ example: 'ingestion', description: 'The task type of the stage task' })
  @IsString()
  @Matches(TASK_TYPE_PATTERN, { message: 'type must be 1-128 letters, digits or . _ : / -' })
  type: string;

  @ApiPropertyOptional({ default: true, description: 'A failed optional stage is skipped and the run goes on' })
  @IsOptional()
  @IsBoolean()
  required?: boolean;

  @ApiPropertyOptional({ default: 300, minimum: 1, maximum: 604800 }) @IsOptional() @IsInt() @Min(1) @Max(604_800) timeout?: number;
  @ApiPropertyOptional({ default: 3, minimum: 0, maximum: 100 }) @IsOptional() @IsInt() @Min(0) @Max(100) retry_count?: number;

  @ApiPropertyOptional({ type: [String], description: 'Defaults to [type]' })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(50)
  @Matches(CAPABILITY_PATTERN, { each: true, message: 'each capability must be 1-128 letters, digits or . _ : / -' })
  required_capabilities?: string[];
}

export class DependencyDto {
  @ApiProperty({ description: 'Stage name that must finish first' }) @IsString() @MaxLength(128) from: string;
  @ApiProperty({ description: 'Stage name that waits' }) @IsString() @MaxLength(128) to: string;
}

export class CreatePipelineDto {
  @ApiProperty() @IsString() @MaxLength(200) name: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(10_000) description?: string;

  @ApiPropertyOptional({ type: [StageDto], description: 'Omitted → the standard six stages' })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(100)
  @ValidateNested({ each: true })
  @Type(() => StageDto)
  stages?: StageDto[];

  @ApiPropertyOptional({ type: [DependencyDto], description: 'Omitted → a chain in stage order' })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(1000)
  @ValidateNested({ each: true })
  @Type(() => DependencyDto)
  dependencies?: DependencyDto[];
}

export class UpdatePipelineDto {
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(200) name?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(10_000) description?: string;

  @ApiPropertyOptional({ type: [StageDto], description: 'Given without dependencies → a chain over the new stages' })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(100)
  @ValidateNested({ each: true })
  @Type(() => StageDto)
  stages?: StageDto[];

  @ApiPropertyOptional({ type: [DependencyDto] })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(1000)
  @ValidateNested({ each: true })
  @Type(() => DependencyDto)
  dependencies?: DependencyDto[];
}

export class NotificationDto {
  @ApiPropertyOptional({ example: 'https://example.com/hooks/agentmanager', description: 'http(s) URL; gets the run on completion/failure' })
  @IsOptional()
  @IsUrl({ protocols: ['http', 'https'], require_protocol: true, require_tld: false }, { message: 'webhook must be an http or https URL' })
  @MaxLength(2000)
  webhook?: string;

  @ApiPropertyOptional({ description: 'Needs SMTP_URL on the server' }) @IsOptional() @IsEmail() email?: string;
}

export class ExecutePipelineDto {
  @ApiPropertyOptional({ description: 'Any JSON value; handed to every stage' }) @IsOptional() input_data?: unknown;
  @ApiPropertyOptional({ description: 'Any JSON value; handed to every stage' }) @IsOptional() parameters?: unknown;
  @ApiPropertyOptional({ type: NotificationDto }) @IsOptional() @ValidateNested() @Type(() => NotificationDto) notification?: NotificationDto;
}

export class ListPipelinesQueryDto extends ListQueryDto {
  @ApiPropertyOptional({ default: false })
  @IsOptional()
  @Transform(({ value }) => value === true || value === 'true')
  @IsBoolean()
  include_archived?: boolean;
}

export class ListRunsQueryDto extends ListQueryDto {}

export class PipelineDto {
  @ApiProperty() id: string;
  @ApiProperty() name: string;
  @ApiProperty({ nullable: true, type: String }) description: string | null;
  @ApiProperty() version: number;
  @ApiProperty({ enum: ['active', 'archived'] }) status: string;
  @ApiProperty({ type: [StageDto] }) stages: StageDto[];
  @ApiProperty({ type: [DependencyDto] }) dependencies: DependencyDto[];
  @ApiProperty() created_at: string;
  @ApiProperty() updated_at: string;
  @ApiProperty({ nullable: true, type: String }) archived_at: string | null;
}

export class PipelineListDto {
  @ApiProperty({ type: [PipelineDto] }) pipelines: PipelineDto[];
  @ApiProperty({ nullable: true, type: String }) next_cursor: string | null;
}

export class RunStageDto {
  @ApiProperty() index: number;
  @ApiProperty() name: string;
  @ApiProperty() type: string;
  @ApiProperty() required: boolean;
  @ApiProperty({ enum: ['pending', 'ready', 'running', 'retrying', 'completed', 'skipped', 'failed', 'cancelled'] }) status: string;
  @ApiProperty() task_id: string;
  @ApiProperty({ type: [Number] }) depends_on: number[];
  @ApiProperty({ nullable: true, type: String }) started_at: string | null;
  @ApiProperty({ nullable: true, type: String }) completed_at: string | null;
  @ApiProperty({ nullable: true }) error: unknown;
}

export class RunDto {
  @ApiProperty() id: string;
  @ApiProperty() pipeline_id: string;
  @ApiProperty() pipeline_version: number;
  @ApiProperty({ enum: ['running', 'completed', 'failed', 'cancelled'] }) status: string;
  @ApiProperty({ nullable: true, type: Number }) current_stage: number | null;
  @ApiProperty({ type: [Number] }) completed_stages: number[];
  @ApiProperty() progress: number;
  @ApiProperty({ type: [RunStageDto] }) stages: RunStageDto[];
  @ApiProperty({ nullable: true }) input_data: unknown;
  @ApiProperty({ nullable: true }) parameters: unknown;
  @ApiProperty({ nullable: true, description: '{<final stage name>: result}' }) output_data: unknown;
  @ApiProperty({ nullable: true }) error: unknown;
  @ApiProperty() created_at: string;
  @ApiProperty() updated_at: string;
  @ApiProperty({ nullable: true, type: String }) completed_at: string | null;
}

export class RunListDto {
  @ApiProperty({ type: [RunDto] }) runs: RunDto[];
  @ApiProperty({ nullable: true, type: String }) next_cursor: string | null;
}
