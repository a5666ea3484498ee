import { Body, Controller, Delete, Get, HttpCode, Patch, Post, Query, Res } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { CurrentPrincipal, RequirePermission } from '../access/decorators';
import { Permission } from '../access/permissions';
import type { Principal } from '../access/principal';
import { IdempotencyKey,Idempotent } from '../common/idempotency';
import { UuidParam } from '../common/uuid-param';
import {
  CreatePipelineDto,
  ExecutePipelineDto,
  ListPipelinesQueryDto,
  ListRunsQueryDto,
  PipelineDto,
  PipelineListDto,
  RunDto,
  RunListDto,
  UpdatePipelineDto,
} from './dto/pipeline.dto';
import { PipelinesService } from './pipelines.service';


@ApiTags('pipelines')
@ApiBearerAuth()
@Controller('pipelines')
export class PipelinesController {
  constructor(private readonly pipelines: PipelinesService) {}

  @RequirePermission(Permission.PipelinesWrite)
  @Post()
  @Idempotent()
  @ApiCreatedResponse({ type: PipelineDto, description: 'A cycle or an unknown stage in dependencies → 422' })
  async create(
    @CurrentPrincipal() principal: Principal,
    @Body() body: CreatePipelineDto,
    @IdempotencyKey() key: string | undefined,
    @Res({ passthrough: true }) res: Response,
  ): Promise<PipelineDto> {
    const out = await this.pipelines.create(principal, body, key);
    res.status(out.status);
    return out.body;
  }

  @RequirePermission(Permission.PipelinesRead)
  @Get()
  @ApiOkResponse({ type: PipelineListDto, description: 'Archived pipelines only with include_archived=true' })
  list(@Query() query: ListPipelinesQueryDto): Promise<PipelineListDto> {
    return this.pipelines.list(query);
  }

  @RequirePermission(Permission.PipelinesRead)
  @Get(':id')
  @ApiOkResponse({ type: PipelineDto })
  get(@UuidParam() id: string): Promise<PipelineDto> {
    return this.pipelines.get(id);
  }

  @RequirePermission(Permission.PipelinesWrite)
  @Patch(':id')
  @ApiOkResponse({ type: PipelineDto, description: 'Makes a new version; runs keep the version they started with' })
  update(@CurrentPrincipal() principal: Principal, @UuidParam() id: string, @Body() body: UpdatePipelineDto): Promise<PipelineDto> {
    return this.pipelines.update(principal, id, body);
  }

  @RequirePermission(Permission.PipelinesWrite)
  @Delete(':id')
  @HttpCode(204)
  @ApiNoContentResponse({ description: 'Archived (kept for its runs; hidden from the list; cannot be executed)' })
  async archive(@CurrentPrincipal() principal: Principal, @UuidParam() id: string): Promise<void> {
    await this.pipelines.archive(principal, id);
  }

  @RequirePermission(Permission.PipelinesExecute)
  @Post(':id/execute')
  @Idempotent()
  @ApiAcceptedResponse({ type: RunDto })
  async execute(
    @CurrentPrincipal() principal: Principal,
    @UuidParam() id: string,
    @Body() body: ExecutePipelineDto,
    @IdempotencyKey() key: string | undefined,
    @Res({ passthrough: true }) res: Response,
  ): Promise<RunDto> {
    const out = await this.pipelines.execute(principal, id, body, key);
    res.status(out.status);
    return out.body;
  }

  @RequirePermission(Permission.PipelinesRead)
  @Get(':id/runs')
  @ApiOkResponse({ type: RunListDto })
  runs(@UuidParam() id: string, @Query() query: ListRunsQueryDto): Promise<RunListDto> {
    return this.pipelines.listRuns(id, query);
  }
}

@ApiTags('pipelines')
@ApiBearerAuth()
@Controller('pipeline-runs')
export class PipelineRunsController {
  constructor(private readonly pipelines: PipelinesService) {}

  @RequirePermission(Permission.PipelinesRead)
  @Get()
  @ApiOkResponse({ type: RunListDto })
  list(@Query() query: ListRunsQueryDto): Promise<RunListDto> {
    return this.pipelines.listRuns(undefined, query);
  }

  @RequirePermission(Permission.PipelinesRead)
  @Get(':id')
  @ApiOkResponse({ type: RunDto })
  get(@UuidParam() id: string): Promise<RunDto> {
    return this.pipelines.getRun(id);
  }

  @RequirePermission(Permission.PipelinesExecute)
  @Post(':id/cancel')
  @HttpCode(200)
  @ApiOkResponse({ type: RunDto })
  cancel(@CurrentPrincipal() principal: Principal, @UuidParam() id: string): Promise<RunDto> {
    return this.pipelines.cancelRun(principal, id);
  }
}
