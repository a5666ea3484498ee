import { Injectable, type OnModuleInit } from '@nestjs/common';
import { Counter, Histogram } from 'prom-client';
import { MetricsService } from '../metrics/metrics.service';
import { McpService } from './mcp.service';

/** agentmanager_mcp_tool_calls_total{tool,outcome} and the call duration, on this instance's registry. */
@Injectable()
export class McpMetrics implements OnModuleInit {
  constructor(
    private readonly metrics: MetricsService,
    private readonly mcp: McpService,
  ) {}

  onModuleInit(): void {
    const calls = new Counter({
      name: 'agentmanager_mcp_tool_calls_total',
      help: 'MCP tool calls by tool and outcome (ok, error, denied)',
      labelNames: ['tool', 'outcome'] as const,
      registers: [this.metrics.registry],
    });
    const duration = new Histogram({
      name: 'agentmanager_mcp_tool_call_duration_seconds',
      help: 'MCP tool call duration by tool',
      labelNames: ['tool'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [this.metrics.registry],
    });
    this.mcp.onToolCall((tool, outcome, seconds) => {
      calls.inc({ tool, outcome });
      duration.observe({ tool }, seconds);
    });
  }
}
