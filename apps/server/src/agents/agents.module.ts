import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { AgentLifecycle } from './agent-lifecycle';
import { AgentsController } from './agents.controller';
import { AgentsRepository } from './agents.repository';
import { AgentsService } from './agents.service';
import { AgentsSweeper } from './agents.sweeper';

@Module({
  imports: [AuthModule],
  controllers: [AgentsController],
  providers: [AgentsService, AgentsRepository, AgentLifecycle, AgentsSweeper],
  exports: [AgentsService, AgentsRepository, AgentLifecycle],
})
export class AgentsModule {}
