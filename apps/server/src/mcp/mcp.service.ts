import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  CallToolRequestSchema,
  type CallToolResult,
  ErrorCode,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { Injectable, type OnModuleInit, type Type } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { SpanStatusCode, trace } from '@opentelemetry/api';
import type { Logger } from 'pino';
import { grants } from '../access/permissions';
import { ownerOf, type Principal } from '../access/principal';
import { AgentsService } from '../agents/agents.service';
import { DenialAudits } from '../audit/denial-audits';
import { DomainError, forbidden, notFound } from '../common/errors';
import { toDomainError } from '../common/http-error.filter';
import { InjectLogger } from '../common/logger.module';
import { type RequestContext,RequestContextStore } from '../common/request-context';
import { FileLocksService } from '../file-locks/file-locks.service';
import { PipelinesService } from '../pipelines/pipelines.service';
import { ClaimTasksUseCase } from '../tasks/claim-tasks.use-case';
import { TasksService } from '../tasks/tasks.service';
import { WorkflowsService } from '../workflows/workflows.service';
import { PROMPTS } from './mcp-prompts';
import { parseResourceUri, PIPELINE_RUN_RESOURCE, RESOURCE_KINDS, type ResourceKind,resourceUri, WORKFLOW_RESOURCE } from './mcp-resources';
import { McpSessions } from './mcp-sessions';
import { agentTools } from './tools/agent-tools';
import { lockTools } from './tools/lock-tools';
import { taskTools } from './tools/task-tools';
import { checkPermission, checkSchema, inputJsonSchema, type McpTool } from './tools/tool';
import { pipelineTools, workflowTools } from './tools/workflow-tools';

/** Everything one MCP HTTP request runs with: who calls, the request facts, and its session id if any. */
export interface McpCallContext {
  principal: Principal;
  request: RequestContext;
  sessionId: string | undefined;
  /** Fires when the HTTP client goes away. */
  clientGone: AbortSignal;
}

export type ToolOutcome = 'ok' | 'error' | 'denied';

const INSTRUCTIONS =
  'AgentManager coordinates AI agents: tasks with fenced leases, file locks, retries, RBAC and audit. As a worker: ' +
  'register_agent once, then loop claim_tasks → acquire_file_lock (for files not in the task file_dependencies) → do the work ' +
  '(report_progress / send_heartbeat) → complete_task or fail_task. Always pass back the attempt you were given; on ' +
  'stale_attempt stop working on that task. The prompt work-on-next-task spells the loop out.';

const tracer = trace.getTracer('agentmanager-mcp');

/**
 * Builds the MCP server for one HTTP request (stateless: any instance can serve any call). Tools
 * are thin adapters over the services the REST controllers call; this class only maps arguments,
 * permissions, results and errors.
 */
@Injectable()
export class McpService implements OnModuleInit {
  private readonly toolMap: Map<string, McpTool>;
  private readonly readers: Map<string, (id: string) => Promise<unknown>>;
  private readonly kinds: ResourceKind[] = [...RESOURCE_KINDS];
  private readonly toolListeners: ((tool: string, outcome: ToolOutcome, seconds: number) => void)[] = [];

  constructor(
    private readonly moduleRef: ModuleRef,
    agents: AgentsService,
    tasks: TasksService,
    claimTasks: ClaimTasksUseCase,
    locks: FileLocksService,
    private readonly sessions: McpSessions,
    private readonly denials: DenialAudits,
    @InjectLogger() private readonly logger: Logger,
  ) {
    const all = [...agentTools(agents), ...taskTools(tasks, claimTasks), ...lockTools(locks)];
    this.toolMap = new Map(all.map((t) => [t.name, t]));
    this.readers = new Map<string, (id: string) => Promise<unknown>>([
      ['tasks', (id) => tasks.get(id)],
      ['agents', (id) => agents.get(id)],
    ]);
  }

  get tools(): ReadonlyMap<string, McpTool> {
    return this.toolMap;
  }

  /**
   * Workflows and pipelines are optional here: their tools and resources appear when their
   * modules are part of the app (looked up, not imported, so this module does not pull them in).
   */
  onModuleInit(): void {
    const workflows = this.optional(WorkflowsService);
    if (workflows) {
      for (const tool of workflowTools(workflows)) this.toolMap.set(tool.name, tool);
      this.addResource(WORKFLOW_RESOURCE, (id) => workflows.get(id));
    }
    const pipelines = this.optional(PipelinesService);
    if (pipelines) {
      for (const tool of pipelineTools(pipelines)) this.toolMap.set(tool.name, tool);
      this.addResource(PIPELINE_RUN_RESOURCE, (id) => pipelines.getRun(id));
    }
  }

  private optional<T>(type: Type<T>): T | undefined {
    try {
      return this.moduleRef.get(type, { strict: false });
    } catch {
      return undefined;
    }
  }

  /** For metrics: called after every tool call with its outcome. */
  onToolCall(listener: (tool: string, outcome: ToolOutcome, seconds: number) => void): void {
    this.toolListeners.push(listener);
  }

  createServer(context: McpCallContext): Server {
    const server = new Server(
      { name: 'agentmanager', title: 'AgentManager', version: '1.0.0' },
      { capabilities: { tools: {}, resources: { subscribe: true }, prompts: {} }, instructions: INSTRUCTIONS },
    );
    const mcp = { ...context.request, via: 'mcp' };

    server.setRequestHandler(ListToolsRequestSchema, () => ({
      tools: [...this.tools.values()].map((tool) => ({
        name: tool.name,
        title: tool.title,
        description: tool.description,
        inputSchema: inputJsonSchema(tool),
        annotations: tool.annotations,
      })),
    }));

    server.setRequestHandler(CallToolRequestSchema, (request, extra) => {
      const tool = this.tools.get(request.params.name);
      if (!tool) throw new McpError(ErrorCode.InvalidParams, `Unknown tool ${request.params.name}`);
      const signal = AbortSignal.any([extra.signal, context.clientGone]);
      return RequestContextStore.run(mcp, () => this.callTool(tool, context.principal, request.params.arguments, signal));
    });

    server.setRequestHandler(ListResourcesRequestSchema, () => ({ resources: [] }));
    server.setRequestHandler(ListResourceTemplatesRequestSchema, () => ({
      resourceTemplates: this.kinds.map((k) => ({
        uriTemplate: `agentmanager://${k.kind}/{id}`,
        name: k.name,
        description: k.description,
        mimeType: 'application/json',
      })),
    }));
    server.setRequestHandler(ReadResourceRequestSchema, (request) =>
      RequestContextStore.run(mcp, async () => {
        const { uri, value } = await this.read(context.principal, request.params.uri);
        return { contents: [{ uri, mimeType: 'application/json', text: JSON.stringify(value) }] };
      }),
    );
    server.setRequestHandler(SubscribeRequestSchema, (request) =>
      RequestContextStore.run(mcp, async () => {
        const sessionId = this.requireSession(context);
        const { uri } = await this.read(context.principal, request.params.uri);
        this.sessions.subscribe(sessionId, ownerOf(context.principal), uri);
        return {};
      }),
    );
    server.setRequestHandler(UnsubscribeRequestSchema, (request) => {
      const sessionId = this.requireSession(context);
      const parsed = parseResourceUri(request.params.uri, this.kinds);
      if (parsed) this.sessions.unsubscribeUri(sessionId, ownerOf(context.principal), resourceUri(parsed.kind.kind, parsed.id));
      return {};
    });

    server.setRequestHandler(ListPromptsRequestSchema, () => ({
      prompts: PROMPTS.map((p) => ({ name: p.name, title: p.title, description: p.description, arguments: p.arguments })),
    }));
    server.setRequestHandler(GetPromptRequestSchema, (request) => {
      const prompt = PROMPTS.find((p) => p.name === request.params.name);
      if (!prompt) throw new McpError(ErrorCode.InvalidParams, `Unknown prompt ${request.params.name}`);
      const args = request.params.arguments ?? {};
      const missing = prompt.arguments.filter((a) => a.required && !args[a.name]).map((a) => a.name);
      if (missing.length) throw new McpError(ErrorCode.InvalidParams, `Missing prompt arguments: ${missing.join(', ')}`);
      return {
        description: prompt.description,
        messages: [{ role: 'user' as const, content: { type: 'text' as const, text: prompt.render(args) } }],
      };
    });
    return server;
  }

  private addResource(kind: ResourceKind, read: (id: string) => Promise<unknown>): void {
    this.kinds.push(kind);
    this.readers.set(kind.kind, read);
  }

  get resourceKinds(): readonly ResourceKind[] {
    return this.kinds;
  }

  private requireSession(context: McpCallContext): string {
    if (!context.sessionId) {
      throw new McpError(ErrorCode.InvalidRequest, 'Resource subscriptions need the Mcp-Session-Id header the server returned on initialize');
    }
    return context.sessionId;
  }

  private async read(principal: Principal, uri: string): Promise<{ uri: string; value: unknown }> {
    const parsed = parseResourceUri(uri, this.kinds);
    const reader = parsed && this.readers.get(parsed.kind.kind);
    try {
      if (!parsed || !reader) throw notFound('Resource', uri);
      if (!grants(principal.permissions, parsed.kind.permission)) throw forbidden(`This needs the ${parsed.kind.permission} permission`);
      return { uri: resourceUri(parsed.kind.kind, parsed.id), value: await reader(parsed.id) };
    } catch (err) {
      const error = toDomainError(err);
      if (error.code === 'internal_error') this.logger.error({ err }, 'MCP resource read failed');
      // -32002 is the MCP "resource not found" code.
      throw new McpError(error.code === 'not_found' ? -32002 : ErrorCode.InvalidParams, error.message, { code: error.code, uri });
    }
  }

  private async callTool(tool: McpTool, principal: Principal, args: unknown, signal: AbortSignal): Promise<CallToolResult> {
    const started = performance.now();
    return tracer.startActiveSpan(`mcp.tool ${tool.name}`, { attributes: { 'mcp.tool.name': tool.name, 'mcp.via': 'mcp' } }, async (span): Promise<CallToolResult> => {
      let outcome: ToolOutcome = 'ok';
      try {
        if (!grants(principal.permissions, tool.permission)) {
          outcome = 'denied';
          await this.denials.record({
            actor: principal.actor,
            action: 'authz.denied',
            resourceType: 'mcp_tool',
            resourceId: tool.name,
            outcome: 'denied',
            details: { required_permission: tool.permission },
          });
        }
        checkPermission(tool, principal);
        const value = await tool.run({ principal, signal }, checkSchema(tool, args));
        return { content: [{ type: 'text', text: JSON.stringify(value) }], structuredContent: value };
      } catch (err) {
        const error = toDomainError(err);
        if (outcome === 'ok') outcome = 'error';
        if (error.code === 'internal_error') this.logger.error({ err, tool: tool.name }, 'MCP tool failed');
        span.setAttribute('mcp.error.code', error.code);
        span.setStatus({ code: SpanStatusCode.ERROR, message: error.code });
        return { isError: true, content: [{ type: 'text', text: JSON.stringify(errorBody(error)) }] };
      } finally {
        span.setAttribute('mcp.outcome', outcome);
        span.end();
        const seconds = (performance.now() - started) / 1000;
        for (const listener of this.toolListeners) listener(tool.name, outcome, seconds);
      }
    });
  }
}

/** The REST error body's code/message/details (plus retry_after_sec where REST sends Retry-After). */
export function errorBody(error: DomainError): Record<string, unknown> {
  return {
    code: error.code,
    message: error.message,
    details: error.details,
    ...(error.retryAfterSec !== undefined ? { retry_after_sec: Math.max(1, Math.ceil(error.retryAfterSec)) } : {}),
  };
}
