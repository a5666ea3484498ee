import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { TasksModule } from '../tasks/tasks.module';
import { WorkflowEngine } from './workflow-engine';
import { WorkflowsController } from './workflows.controller';
import { WorkflowsRepository } from './workflows.repository';
import { WorkflowsService } from './workflows.service';

@Module({
  imports: [AuthModule, TasksModule],
  controllers: [WorkflowsController],
  providers: [WorkflowsService, WorkflowEngine, WorkflowsRepository],
})
export class WorkflowsModule {}
