import { Body, Controller, Get, HttpCode, Post, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { CurrentPrincipal, RequirePermission } from '../access/decorators';
import { Permission } from '../access/permissions';
import type { Principal } from '../access/principal';
import { IdempotencyKey,Idempotent } from '../common/idempotency';
import { UuidParam } from '../common/uuid-param';
import { CreateWorkflowDto, ListWorkflowsQueryDto, WorkflowDto, WorkflowListDto } from './dto/workflow.dto';
import { WorkflowsService } from './workflows.service';


@ApiTags('workflows')
@ApiBearerAuth()
@Controller('workflows')
export class WorkflowsController {
  constructor(private readonly workflows: WorkflowsService) {}

  @RequirePermission(Permission.WorkflowsWrite)
  @Post()
  @Idempotent()
  @ApiCreatedResponse({ type: WorkflowDto, description: 'A cycle, an unknown dependency key or duplicate keys → 422' })
  async create(
    @CurrentPrincipal() principal: Principal,
    @Body() body: CreateWorkflowDto,
    @IdempotencyKey() key: string | undefined,
    @Res({ passthrough: true }) res: Response,
  ): Promise<WorkflowDto> {
    const { status, workflow } = await this.workflows.create(principal, body, { idempotencyKey: key });
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
