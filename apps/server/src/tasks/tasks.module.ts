import { Module } from '@nestjs/common';
import { AgentsModule } from '../agents/agents.module';
import { AuthModule } from '../auth/auth.module';
import { ClaimTasksUseCase } from './claim-tasks.use-case';
import { IdempotencyRepository } from './idempotency.repository';
import { TaskHooks } from './task-hooks';
import { TasksController } from './tasks.controller';
import { TasksRepository } from './tasks.repository';
import { TasksService } from './tasks.service';
import { TasksSweeper } from './tasks.sweeper';

@Module({
  imports: [AuthModule, AgentsModule],
  controllers: [TasksController],
  providers: [TasksService, TasksRepository, IdempotencyRepository, ClaimTasksUseCase, TaskHooks, TasksSweeper],
  exports: [TasksService, TasksRepository, IdempotencyRepository, TaskHooks, ClaimTasksUseCase],
})
export class TasksModule {}
