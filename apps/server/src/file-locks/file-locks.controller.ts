import { Body, Controller, Delete, Get, HttpCode, Post, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiConflictResponse, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiTags, ApiTooManyRequestsResponse } from '@nestjs/swagger';
import type { Response } from 'express';
import { CurrentPrincipal, RequirePermission } from '../access/decorators';
import { Permission } from '../access/permissions';
import type { Principal } from '../access/principal';
import { IdempotencyKey,Idempotent } from '../common/idempotency';
import { UuidParam } from '../common/uuid-param';
import { abortOnDisconnect } from './abort-on-disconnect';
import { AcquireLockDto, ListLocksQueryDto, LockDto, LockListDto, RenewLockDto } from './dto/file-lock.dto';
import { FileLocksService } from './file-locks.service';

@ApiTags('locks')
@ApiBearerAuth()
@Controller('locks')
export class FileLocksController {
  constructor(private readonly locks: FileLocksService) {}

  @RequirePermission(Permission.LocksWrite)
  @Post()
  @Idempotent()
  @ApiCreatedResponse({ type: LockDto })
  @ApiConflictResponse({ description: '`lock_conflict`: `details.conflicts` lists the live locks in the way ({lock_id, path, access, holder, expires_at})' })
  @ApiTooManyRequestsResponse({ description: '`too_many_locks`: the holder is at LOCK_MAX_PER_HOLDER live locks' })
  acquire(
    @CurrentPrincipal() principal: Principal,
    @Body() body: AcquireLockDto,
    @IdempotencyKey() key: string | undefined,
    @Res({ passthrough: true }) res: Response,
  ): Promise<LockDto> {
    return this.locks.acquire(principal, body, abortOnDisconnect(res), key);
  }

  @RequirePermission(Permission.LocksRead)
  @Get()
  @ApiOkResponse({ type: LockListDto, description: 'Live locks only (not released, not expired)' })
  list(@Query() query: ListLocksQueryDto): Promise<LockListDto> {
    return this.locks.list(query);
  }

  @RequirePermission(Permission.LocksWrite)
  @Post(':id/renew')
  @HttpCode(200)
  @ApiOkResponse({ type: LockDto })
  renew(@CurrentPrincipal() principal: Principal, @UuidParam() id: string, @Body() body: RenewLockDto): Promise<LockDto> {
    return this.locks.renew(principal, id, body);
  }

  @RequirePermission(Permission.LocksWrite)
  @Delete(':id')
  @HttpCode(204)
  @ApiNoContentResponse({ description: 'Released by its holder, or force-released by a caller with locks:force (audited)' })
  release(@CurrentPrincipal() principal: Principal, @UuidParam() id: string): Promise<void> {
    return this.locks.release(principal, id);
  }
}
