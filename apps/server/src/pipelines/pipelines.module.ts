import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { TasksModule } from '../tasks/tasks.module';
import { PipelineRunEngine } from './pipeline-run-engine';
import { PipelineRunsController, PipelinesController } from './pipelines.controller';
import { PipelinesRepository } from './pipelines.repository';
import { PipelinesService } from './pipelines.service';
import { WebhookSender } from './webhook-sender';
import { WebhooksService } from './webhooks.service';

@Module({
  imports: [AuthModule, TasksModule],
  controllers: [PipelinesController, PipelineRunsController],
  providers: [PipelinesService, PipelineRunEngine, PipelinesRepository, WebhooksService, WebhookSender],
  exports: [WebhooksService, WebhookSender],
})
export class PipelinesModule {}
