import { Body, Controller, Get, HttpCode, Post, Query, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { CurrentPrincipal, RequirePermission } from '../access/decorators';
import { Permission } from '../access/permissions';
import type { Principal } from '../access/principal';
import { abortOnClose } from '../common/client-abort';
import { IdempotencyKey,Idempotent } from '../common/idempotency';
import { UuidParam } from '../common/uuid-param';
import { ClaimTasksUseCase } from './claim-tasks.use-case';
import { ClaimResultDto, ClaimTasksDto, CompleteDto, CreateTaskDto, FailDto, ListTasksQueryDto, ProgressDto, TaskDto, TaskListDto } from './dto/task.dto';
import { TasksService } from './tasks.service';


@ApiTags('tasks')
@ApiBearerAuth()
@Controller('tasks')
export class TasksController {
  constructor(
    private readonly tasks: TasksService,
    private readonly claimTasks: ClaimTasksUseCase,
  ) {}

  @RequirePermission(Permission.TasksWrite)
  @Post()
  @Idempotent()
  @ApiCreatedResponse({ type: TaskDto })
  async create(
    @CurrentPrincipal() principal: Principal,
    @Body() body: CreateTaskDto,
    @IdempotencyKey() key: string | undefined,
    @Res({ passthrough: true }) res: Response,
  ): Promise<TaskDto> {
    const { status, task } = await this.tasks.create(principal, body, { idempotencyKey: key });
    res.status(status);
    return task;
  }

  @RequirePermission(Permission.TasksRead)
  @Get()
  @ApiOkResponse({ type: TaskListDto })
  list(@Query() query: ListTasksQueryDto): Promise<TaskListDto> {
    return this.tasks.list(query);
  }

  @RequirePermission(Permission.AgentsAct)
  @Post('claim')
  @HttpCode(200)
  @ApiOkResponse({ type: ClaimResultDto, description: 'Claimed tasks (possibly none). Each carries the attempt to report with.' })
  async claim(@CurrentPrincipal() principal: Principal, @Body() body: ClaimTasksDto, @Req() req: Request): Promise<ClaimResultDto> {
    return { tasks: await this.claimTasks.execute(principal, body, abortOnClose(req)) };
  }

  @RequirePermission(Permission.TasksRead)
  @Get(':id')
  @ApiOkResponse({ type: TaskDto })
  get(@UuidParam() id: string): Promise<TaskDto> {
    return this.tasks.get(id);
  }

  @RequirePermission(Permission.AgentsAct)
  @Post(':id/progress')
  @HttpCode(200)
  @ApiOkResponse({ type: TaskDto })
  progress(@CurrentPrincipal() principal: Principal, @UuidParam() id: string, @Body() body: ProgressDto): Promise<TaskDto> {
    return this.tasks.progress(principal, id, body);
  }

  @RequirePermission(Permission.AgentsAct)
  @Post(':id/complete')
  @HttpCode(200)
  @ApiOkResponse({ type: TaskDto })
  complete(@CurrentPrincipal() principal: Principal, @UuidParam() id: string, @Body() body: CompleteDto): Promise<TaskDto> {
    return this.tasks.complete(principal, id, body);
  }

  @RequirePermission(Permission.AgentsAct)
  @Post(':id/fail')
  @HttpCode(200)
  @ApiOkResponse({ type: TaskDto })
  fail(@CurrentPrincipal() principal: Principal, @UuidParam() id: string, @Body() body: FailDto): Promise<TaskDto> {
    return this.tasks.fail(principal, id, body);
  }

  @RequirePermission(Permission.TasksManage)
  @Post(':id/cancel')
  @HttpCode(200)
  @ApiOkResponse({ type: TaskDto })
  cancel(@CurrentPrincipal() principal: Principal, @UuidParam() id: string): Promise<TaskDto> {
    return this.tasks.cancel(principal, id);
  }

  @RequirePermission(Permission.TasksManage)
  @Post(':id/retry')
  @HttpCode(200)
  @ApiOkResponse({ type: TaskDto })
  retry(@CurrentPrincipal() principal: Principal, @UuidParam() id: string): Promise<TaskDto> {
    return this.tasks.retry(principal, id);
  }
}
