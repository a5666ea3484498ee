import { Global, Module } from '@nestjs/common';
import { AgentsModule } from '../agents/agents.module';
import { AuthModule } from '../auth/auth.module';
import { TASK_FILE_LOCKS } from '../tasks/task-hooks';
import { FileLocksController } from './file-locks.controller';
import { FileLocksRepository } from './file-locks.repository';
import { FileLocksService } from './file-locks.service';
import { TaskFileLocksAdapter } from './task-file-locks.adapter';

/**
 * Global so the tasks module finds TASK_FILE_LOCKS (which it injects as optional) without
 * importing this module: tasks know the interface, not the implementation.
 */
@Global()
@Module({
  imports: [AuthModule, AgentsModule],
  controllers: [FileLocksController],
  providers: [FileLocksService, FileLocksRepository, TaskFileLocksAdapter, { provide: TASK_FILE_LOCKS, useExisting: TaskFileLocksAdapter }],
  exports: [FileLocksService, FileLocksRepository, TASK_FILE_LOCKS],
})
export class FileLocksModule {}
