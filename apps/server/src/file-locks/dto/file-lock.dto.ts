import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsInt, IsOptional, IsUUID, Max, Min } from 'class-validator';
import { ListQueryDto } from '../../common/list-query.dto';
import { IsLockPath } from '../../common/lock-path';
import { LOCK_ACCESS_MODES, type LockAccess } from '../lock-compatibility';

const PATH_DESCRIPTION =
  'Relative to the shared workspace (a leading / is ignored). A trailing / locks a directory and everything under it. ' +
  'Normalised: `a//b/./c` is `a/b/c`, `\\` is a separator; `..` segments, NUL/control characters and more than 1024 bytes are refused.';

export class AcquireLockDto {
  @ApiProperty({ example: 'src/app.ts', description: PATH_DESCRIPTION })
  @IsLockPath()
  path: string;

  @ApiProperty({ enum: LOCK_ACCESS_MODES, description: 'read = shared; write = one writer, readers allowed; exclusive = nobody else' })
  @IsIn(LOCK_ACCESS_MODES)
  access: LockAccess;

  @ApiPropertyOptional({
    format: 'uuid',
    description: 'Hold the lock as this agent (one this credential registered). Without it a user holds the lock; API keys must name an agent.',
  })
  @IsOptional()
  @IsUUID()
  agent_id?: string;

  @ApiPropertyOptional({ minimum: 1, description: 'Default LOCK_DEFAULT_TTL_SEC; at most LOCK_MAX_TTL_SEC' })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(31_536_000)
  ttl_seconds?: number;

  @ApiPropertyOptional({ format: 'uuid', description: 'Ties the lock to an unfinished task: it is released when the task ends' })
  @IsOptional()
  @IsUUID()
  task_id?: string;

  @ApiPropertyOptional({ minimum: 0, maximum: 30, default: 0, description: 'Wait up to this long for conflicting locks to go away' })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(30)
  wait_seconds?: number;
}

export class RenewLockDto {
  @ApiPropertyOptional({ minimum: 1, description: "From now; default: the lock's own TTL again. At most LOCK_MAX_TTL_SEC" })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(31_536_000)
  ttl_seconds?: number;
}

export class ListLocksQueryDto extends ListQueryDto {
  @ApiPropertyOptional({ description: 'Live locks whose scope overlaps this path (the path itself, directories above it, and for a directory everything under it)' })
  @IsOptional()
  @IsLockPath()
  path?: string;

  @ApiPropertyOptional({ format: 'uuid', description: 'Held by this agent' })
  @IsOptional()
  @IsUUID()
  agent_id?: string;

  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsUUID()
  task_id?: string;
}

export class LockHolderDto {
  @ApiProperty({ enum: ['agent', 'user'] }) type: 'agent' | 'user';
  @ApiProperty() id: string;
}

export class LockDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ example: 'src/app.ts', description: 'The normalised key; directory locks end with /' }) path: string;
  @ApiProperty({ enum: LOCK_ACCESS_MODES }) access: LockAccess;
  @ApiProperty({ type: LockHolderDto }) holder: LockHolderDto;
  @ApiProperty({ nullable: true, type: String, format: 'uuid' }) task_id: string | null;
  @ApiProperty({ description: 'Strictly increasing per path (and across overlapping paths); pass it to the storage you write to' })
  fencing_token: number;
  @ApiProperty({ format: 'date-time' }) acquired_at: string;
  @ApiProperty({ format: 'date-time' }) expires_at: string;
}

export class LockListDto {
  @ApiProperty({ type: [LockDto] }) locks: LockDto[];
  @ApiProperty({ nullable: true, type: String }) next_cursor: string | null;
}

/** One entry of a 409 lock_conflict's `details.conflicts`. */
export class LockConflictDto {
  @ApiProperty({ format: 'uuid' }) lock_id: string;
  @ApiProperty() path: string;
  @ApiProperty({ enum: LOCK_ACCESS_MODES }) access: LockAccess;
  @ApiProperty({ type: LockHolderDto }) holder: LockHolderDto;
  @ApiProperty({ format: 'date-time' }) expires_at: string;
}
