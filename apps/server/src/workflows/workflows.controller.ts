import { Body, Controller, Get, Headers, HttpCode, Post, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiHeader, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { CurrentPrincipal, RequirePermission } from '../auth/decorators';
import { Permission } from '../auth/permissions';
import type { Principal } from '../auth/principal';
import { validationFailed } from '../common/errors';
import { UuidParam } from '../common/uuid-param';
import { CreateWorkflowDto, ListWorkflowsQueryDto, WorkflowDto, WorkflowListDto } from './dto/workflow.dto';
import { WorkflowsService } from './workflows.service';

export function idempotencyKey(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!/^[\x21-\x7e]{1,255}$/.test(value)) {
    throw validationFailed([{ field: 'Idempotency-Key', errors: ['Idempotency-Key must be 1-255 visible ASCII characters'] }]);
  }
  return value;
}

@ApiTags('workflows')
@ApiBearerAuth()
@Controller('workflows')
export class WorkflowsController {
  constructor(private readonly workflows: WorkflowsService) {}

  @RequirePermission(Permission.WorkflowsWrite)
  @Post()
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'Same key + same body returns the original response; another body → 422' })
  @ApiCreatedResponse({ type: WorkflowDto, description: 'A cycle, an unknown dependency key or duplicate keys → 422' })
  async create(
    @CurrentPrincipal() principal: Principal,
    @Body() body: CreateWorkflowDto,
    @Headers('idempotency-key') key: string | undefined,
    @Res({ passthrough: true }) res: Response,
  ): Promise<WorkflowDto> {
    const { status, workflow } = await this.workflows.create(principal, body, { idempotencyKey: idempotencyKey(key) });
    res.status(status);
    return workflow;
  }

  @RequirePermission(Permission.WorkflowsRead)
  @Get()
  @ApiOkResponse({ type: WorkflowListDto })
  list(@Query() query: ListWorkflowsQueryDto): Promise<WorkflowListDto> {
    return this.workflows.list(query);
  }

  @RequirePermission(Permission.WorkflowsRead)
  @Get(':id')
  @ApiOkResponse({ type: WorkflowDto })
  get(@UuidParam() id: string): Promise<WorkflowDto> {
    return this.workflows.get(id);
  }

  @RequirePermission(Permission.WorkflowsWrite)
  @Post(':id/cancel')
  @HttpCode(200)
  @ApiOkResponse({ type: WorkflowDto, description: 'Cancels the workflow and every unfinished task of it, running ones included' })
  cancel(@CurrentPrincipal() principal: Principal, @UuidParam() id: string): Promise<WorkflowDto> {
    return this.workflows.cancel(principal, id);
  }
}
