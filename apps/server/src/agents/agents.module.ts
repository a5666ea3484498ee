import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { AgentLifecycle } from './agent-lifecycle';
import { AgentsController } from './agents.controller';
import { AgentsRepository } from './agents.repository';
import { AgentsService } from './agents.service';

@Module({
  imports: [AuthModule],
  controllers: [AgentsController],
  providers: [AgentsService, AgentsRepository, AgentLifecycle],
  exports: [AgentsService, AgentsRepository, AgentLifecycle],
})
export class AgentsModule {}
