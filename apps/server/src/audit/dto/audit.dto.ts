import { ApiProperty, ApiPropertyOptional, IntersectionType } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsDate, IsIn, IsInt, IsISO8601, IsOptional, IsString, Matches, MaxLength, Min, MinDate } from 'class-validator';
import { EARLIEST_DATE } from '../../common/input-guard';
import { ListQueryDto } from '../../common/list-query.dto';

export class AuditFilterDto {
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(128) actor_id?: string;
  @ApiPropertyOptional({ example: 'auth.login' }) @IsOptional() @IsString() @MaxLength(128) action?: string;
  @ApiPropertyOptional({ example: 'user' }) @IsOptional() @IsString() @MaxLength(128) resource_type?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(256) resource_id?: string;
  @ApiPropertyOptional({ enum: ['success', 'denied', 'error'] })
  @IsOptional()
  @IsIn(['success', 'denied', 'error'])
  outcome?: string;
  @ApiPropertyOptional({ description: 'ISO-8601, inclusive' }) @IsOptional() @Type(() => Date) @IsDate() @MinDate(EARLIEST_DATE, { message: 'from must be in year 1 or later' }) from?: Date;
  @ApiPropertyOptional({ description: 'ISO-8601, exclusive' }) @IsOptional() @Type(() => Date) @IsDate() @MinDate(EARLIEST_DATE, { message: 'to must be in year 1 or later' }) to?: Date;
}

export class ListAuditQueryDto extends IntersectionType(AuditFilterDto, ListQueryDto) {}

export class ExportAuditQueryDto extends AuditFilterDto {
  @ApiPropertyOptional({ enum: ['ndjson', 'csv'], default: 'ndjson' })
  @IsOptional()
  @IsIn(['ndjson', 'csv'])
  format: 'ndjson' | 'csv' = 'ndjson';
}

export class AuditActorDto {
  @ApiProperty({ enum: ['user', 'agent', 'api_key', 'system'] }) type: string;
  @ApiProperty({ nullable: true, type: String }) id: string | null;
}

export class AuditEventDto {
  @ApiProperty() seq: number;
  @ApiProperty() id: string;
  @ApiProperty() occurred_at: string;
  @ApiProperty({ type: AuditActorDto }) actor: AuditActorDto;
  @ApiProperty() action: string;
  @ApiProperty() resource_type: string;
  @ApiProperty({ nullable: true, type: String }) resource_id: string | null;
  @ApiProperty({ enum: ['success', 'denied', 'error'] }) outcome: string;
  @ApiProperty({ nullable: true, type: String }) ip: string | null;
  @ApiProperty({ nullable: true, type: String }) user_agent: string | null;
  @ApiProperty({ nullable: true, type: String }) request_id: string | null;
  @ApiProperty({ type: 'object', additionalProperties: true }) details: Record<string, unknown>;
  @ApiProperty() prev_hash: string;
  @ApiProperty() hash: string;
}

export class AuditEventListDto {
  @ApiProperty({ type: [AuditEventDto] }) audit_events: AuditEventDto[];
  @ApiProperty({ nullable: true, type: String }) next_cursor: string | null;
}

export class AuditCheckpointDto {
  @ApiProperty({ description: 'The chain head this checkpoint vouches for' }) seq: number;
  @ApiProperty({ description: 'The hash of the row at `seq`' }) hash: string;
  @ApiProperty({ format: 'date-time' }) signed_at: string;
  @ApiProperty({ example: 'HMAC-SHA256' }) algorithm: string;
  @ApiProperty({ description: 'hex HMAC-SHA256 of `agentmanager-audit-checkpoint|<seq>|<hash>|<signed_at>` under AUDIT_CHECKPOINT_KEY' }) signature: string;
}

export class VerifyCheckpointDto {
  @ApiProperty() @IsInt() @Min(1) seq: number;
  @ApiProperty() @Matches(/^[0-9a-f]{64}$/) hash: string;
  @ApiProperty({ format: 'date-time' }) @IsISO8601({ strict: true }) signed_at: string;
  @ApiProperty() @Matches(/^[0-9a-f]{64}$/) signature: string;
  @ApiPropertyOptional({ enum: ['HMAC-SHA256'], description: 'As GET /audit-events/checkpoint returned it' }) @IsOptional() @IsIn(['HMAC-SHA256']) algorithm?: string;
}

export class CheckpointVerificationDto {
  @ApiProperty({ description: 'The signature is this server key\'s, over these values' }) signature_valid: boolean;
  @ApiProperty({ description: 'The sealed row at `seq` still has `hash` (false: the chain was rewritten since, or the row is gone)' }) chain_matches: boolean;
}

export class AuditVerificationDto {
  @ApiProperty() valid: boolean;
  @ApiProperty() checked: number;
  @ApiProperty({ nullable: true, type: Number }) first_invalid_seq: number | null;
  @ApiProperty({ description: 'Committed audit rows not sealed yet (normally 0: sealing takes milliseconds)' }) unsealed: number;
  @ApiProperty({ description: 'The seq of the chain head recorded by the sealer' }) head_seq: number;
}
