import { Global, Module } from '@nestjs/common';
import { AGENT_TASK_LEASES } from '../agents/agent-lifecycle';
import { AgentsModule } from '../agents/agents.module';
import { AuthModule } from '../auth/auth.module';
import { AgentTaskLeasesAdapter } from './agent-task-leases.adapter';
import { ClaimTasksUseCase } from './claim-tasks.use-case';
import { TaskHooks } from './task-hooks';
import { TasksController } from './tasks.controller';
import { TasksRepository } from './tasks.repository';
import { TasksService } from './tasks.service';
import { TasksSweeper } from './tasks.sweeper';

/**
 * Global so the agents module finds AGENT_TASK_LEASES without importing this module (which
 * imports it): agents know the interface, not the implementation.
 */
@Global()
@Module({
  imports: [AuthModule, AgentsModule],
  controllers: [TasksController],
  providers: [
    TasksService,
    TasksRepository,
    ClaimTasksUseCase,
    TaskHooks,
    TasksSweeper,
    AgentTaskLeasesAdapter,
    { provide: AGENT_TASK_LEASES, useExisting: AgentTaskLeasesAdapter },
  ],
  exports: [TasksService, TasksRepository, TaskHooks, ClaimTasksUseCase, AGENT_TASK_LEASES],
})
export class TasksModule {}
