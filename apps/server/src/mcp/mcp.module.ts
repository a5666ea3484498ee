import { Module } from '@nestjs/common';
import { AgentsModule } from '../agents/agents.module';
import { AuthModule } from '../auth/auth.module';
import { EventsGatewayModule } from '../events/events-gateway.module';
import { TasksModule } from '../tasks/tasks.module';
import { McpController } from './mcp.controller';
import { McpService } from './mcp.service';
import { McpHttpAdapter } from './mcp-http.adapter';
import { McpMetrics } from './mcp-metrics';
import { McpSessions } from './mcp-sessions';

/** The Model Context Protocol endpoint: tools, resources and prompts over the same services as REST. */
@Module({
  imports: [AuthModule, AgentsModule, TasksModule, EventsGatewayModule],
  controllers: [McpController],
  providers: [McpService, McpSessions, McpHttpAdapter, McpMetrics],
  exports: [McpService, McpSessions],
})
export class McpModule {}
