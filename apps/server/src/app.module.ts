import { type DynamicModule,Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import { AccessModule } from './access/access.module';
import { AgentsModule } from './agents/agents.module';
import { ApiKeysModule } from './api-keys/api-keys.module';
import { AuditModule } from './audit/audit.module';
import { AuthModule } from './auth/auth.module';
import { IdempotencyModule } from './common/idempotency';
import { LoggerModule } from './common/logger.module';
import type { AppConfig } from './config/app-config';
import { ConfigModule } from './config/config.module';
import { PgListenerModule } from './database/pg-listener.module';
import { EventsModule } from './events/events.module';
import { EventsGatewayModule } from './events/events-gateway.module';
import { FileLocksModule } from './file-locks/file-locks.module';
import { HealthModule } from './health/health.module';
import { LifecycleModule } from './lifecycle/lifecycle.module';
import { McpModule } from './mcp/mcp.module';
import { MetricsModule } from './metrics/metrics.module';
import { OutboxModule } from './outbox/outbox.module';
import { PipelinesModule } from './pipelines/pipelines.module';
import { RateLimitModule } from './rate-limit/rate-limit.module';
import { RolesModule } from './roles/roles.module';
import { SchedulerModule } from './scheduler/scheduler.module';
import { SecretsModule } from './secrets/secrets.module';
import { TasksModule } from './tasks/tasks.module';
import { UsersModule } from './users/users.module';
import { WorkflowsModule } from './workflows/workflows.module';

export interface AppDependencies {
  config: AppConfig;
  logger: Logger;
  /** Already initialised and migrated by openDatabase(). */
  dataSource: DataSource;
}

@Module({})
export class AppModule {
  static forRoot(deps: AppDependencies): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(deps.config),
        LoggerModule.forRoot(deps.logger),
        TypeOrmModule.forRootAsync({
          useFactory: () => deps.dataSource.options,
          dataSourceFactory: async () => deps.dataSource,
        }),
        LifecycleModule,
        SecretsModule,
        AccessModule,
        IdempotencyModule,
        PgListenerModule,
        SchedulerModule,
        OutboxModule,
        EventsModule,
        AuditModule,
        AuthModule,
        UsersModule,
        RolesModule,
        ApiKeysModule,
        AgentsModule,
        FileLocksModule,
        EventsGatewayModule,
        TasksModule,
        WorkflowsModule,
        PipelinesModule,
        HealthModule,
        MetricsModule,
        RateLimitModule,
        McpModule,
      ],
    };
  }
}
