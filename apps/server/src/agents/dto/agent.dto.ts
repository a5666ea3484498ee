import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsIn,
  IsInt,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
} from 'class-validator';
import { ListQueryDto } from '../../common/list-query.dto';

export const CAPABILITY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/;
const CAPABILITY_MESSAGE = 'each capability must be 1-128 letters, digits or . _ : / -';

export class RegisterAgentDto {
  @ApiProperty({ example: 'worker-eu-1', description: 'Unique per credential: registering it again returns the same agent' })
  @IsString()
  @Matches(/^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/, { message: 'name must be 1-128 letters, digits or . _ : @ -' })
  name: string;

  @ApiProperty({ enum: ['worker', 'orchestrator', 'validator'] })
  @IsIn(['worker', 'orchestrator', 'validator'])
  type: 'worker' | 'orchestrator' | 'validator';

  @ApiProperty({ type: [String], example: ['code', 'python'] })
  @IsArray()
  @ArrayMaxSize(100)
  @Matches(CAPABILITY_PATTERN, { each: true, message: CAPABILITY_MESSAGE })
  capabilities: string[];

  @ApiPropertyOptional({ type: 'object', additionalProperties: true, example: { http: 'http://10.0.0.5:8080/run' } })
  @IsOptional()
  @IsObject()
  endpoints?: Record<string, unknown>;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true, example: { cpu: 4, memory_gb: 16 } })
  @IsOptional()
  @IsObject()
  resources?: Record<string, unknown>;

  @ApiPropertyOptional({ minimum: 1, maximum: 1000, default: 1 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(1000)
  max_parallel_tasks?: number;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true })
  @IsOptional()
  @IsObject()
  metadata?: Record<string, unknown>;
}

export class HeartbeatDto {
  @ApiPropertyOptional({ minimum: 0, description: 'The load the agent reports (e.g. tasks in flight or a 0..1 utilisation)' })
  @IsOptional()
  @IsNumber()
  @Min(0)
  @Max(1_000_000)
  current_load?: number;

  @ApiPropertyOptional({ enum: ['active', 'draining'], description: 'An agent may drain itself, or come back from draining' })
  @IsOptional()
  @IsIn(['active', 'draining'])
  status?: 'active' | 'draining';
}

export class UpdateAgentDto {
  @ApiProperty({ enum: ['active', 'draining', 'disabled'] })
  @IsIn(['active', 'draining', 'disabled'])
  status: 'active' | 'draining' | 'disabled';
}

export class ListAgentsQueryDto extends ListQueryDto {
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(128) capability?: string;
  @ApiPropertyOptional({ enum: ['active', 'draining', 'offline', 'disabled'] })
  @IsOptional()
  @IsIn(['active', 'draining', 'offline', 'disabled'])
  status?: string;
  @ApiPropertyOptional({ enum: ['worker', 'orchestrator', 'validator'] })
  @IsOptional()
  @IsIn(['worker', 'orchestrator', 'validator'])
  type?: string;
}

export class AgentDto {
  @ApiProperty() id: string;
  @ApiProperty() name: string;
  @ApiProperty({ enum: ['worker', 'orchestrator', 'validator'] }) type: string;
  @ApiProperty({ enum: ['active', 'draining', 'offline', 'disabled'] }) status: string;
  @ApiProperty({ type: [String] }) capabilities: string[];
  @ApiProperty({ type: 'object', additionalProperties: true }) endpoints: Record<string, unknown>;
  @ApiProperty({ type: 'object', additionalProperties: true }) resources: Record<string, unknown>;
  @ApiProperty({ type: 'object', additionalProperties: true }) metadata: Record<string, unknown>;
  @ApiProperty() max_parallel_tasks: number;
  @ApiProperty() current_load: number;
  @ApiProperty({ description: 'Tasks this agent holds a live lease on' }) running_tasks: number;
  @ApiProperty() last_heartbeat: string;
  @ApiProperty() created_at: string;
}

export class AgentListDto {
  @ApiProperty({ type: [AgentDto] }) agents: AgentDto[];
  @ApiProperty({ nullable: true, type: String }) next_cursor: string | null;
}

export class HeartbeatResponseDto {
  @ApiProperty() server_time: string;
  @ApiProperty() heartbeat_interval_sec: number;
  @ApiProperty({ description: 'How many task leases this heartbeat extended' }) lease_extended: number;
}

export class AgentIdDto {
  @ApiProperty({ format: 'uuid' })
  @Type(() => String)
  @Matches(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, { message: 'agent_id must be a UUID' })
  agent_id: string;
}
