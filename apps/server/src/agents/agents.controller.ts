import { Body, Controller, Delete, Get, HttpCode, Patch, Post, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { CurrentPrincipal, RequirePermission } from '../access/decorators';
import { Permission } from '../access/permissions';
import type { Principal } from '../access/principal';
import { UuidParam } from '../common/uuid-param';
import { AgentsService } from './agents.service';
import {
  AgentDto,
  AgentListDto,
  HeartbeatDto,
  HeartbeatResponseDto,
  ListAgentsQueryDto,
  RegisterAgentDto,
  UpdateAgentDto,
} from './dto/agent.dto';

@ApiTags('agents')
@ApiBearerAuth()
@Controller('agents')
export class AgentsController {
  constructor(private readonly agents: AgentsService) {}

  @RequirePermission(Permission.AgentsAct)
  @Post('register')
  @ApiCreatedResponse({ type: AgentDto, description: '201 when new; 200 with the same id when the name is already registered by this credential' })
  async register(
    @CurrentPrincipal() principal: Principal,
    @Body() body: RegisterAgentDto,
    @Res({ passthrough: true }) res: Response,
  ): Promise<AgentDto> {
    const { agent, created } = await this.agents.register(principal, body);
    res.status(created ? 201 : 200);
    return agent;
  }

  @RequirePermission(Permission.AgentsRead)
  @Get()
  @ApiOkResponse({ type: AgentListDto })
  list(@Query() query: ListAgentsQueryDto): Promise<AgentListDto> {
    return this.agents.list(query);
  }

  @RequirePermission(Permission.AgentsRead)
  @Get(':id')
  @ApiOkResponse({ type: AgentDto })
  get(@UuidParam() id: string): Promise<AgentDto> {
    return this.agents.get(id);
  }

  @RequirePermission(Permission.AgentsAct)
  @Post(':id/heartbeat')
  @HttpCode(200)
  @ApiOkResponse({ type: HeartbeatResponseDto })
  heartbeat(@CurrentPrincipal() principal: Principal, @UuidParam() id: string, @Body() body: HeartbeatDto): Promise<HeartbeatResponseDto> {
    return this.agents.heartbeat(principal, id, body);
  }

  @RequirePermission(Permission.AgentsWrite)
  @Patch(':id')
  @ApiOkResponse({ type: AgentDto })
  update(@CurrentPrincipal() principal: Principal, @UuidParam() id: string, @Body() body: UpdateAgentDto): Promise<AgentDto> {
    return this.agents.updateStatus(principal, id, body);
  }

  @RequirePermission(Permission.AgentsAct)
  @Delete(':id')
  @HttpCode(204)
  deregister(@CurrentPrincipal() principal: Principal, @UuidParam() id: string): Promise<void> {
    return this.agents.deregister(principal, id);
  }
}
