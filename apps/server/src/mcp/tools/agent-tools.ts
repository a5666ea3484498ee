import { z } from 'zod';
import { Permission } from '../../access/permissions';
import { AgentsService } from '../../agents/agents.service';
import { HeartbeatDto, ListAgentsQueryDto, RegisterAgentDto } from '../../agents/dto/agent.dto';
import { MAX_PAGE_SIZE } from '../../common/pagination';
import { asDto, type McpTool,pathId, splitArgs, uuid } from './tool';

const capability = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/);
const jsonObject = z.record(z.string(), z.unknown());

export const pageArgs = {
  limit: z.number().int().min(1).max(MAX_PAGE_SIZE).optional().describe(`Page size, 1-${MAX_PAGE_SIZE} (default 50)`),
  cursor: z.string().max(512).optional().describe('The next_cursor of the previous page; omit for the first page'),
};

export function agentTools(agents: AgentsService): McpTool[] {
  return [
    {
      name: 'register_agent',
      title: 'Register an agent',
      description:
        'Registers you as a worker agent (call once at start-up, before claim_tasks). Returns the agent; keep its `id` and pass it ' +
        'as agent_id to every other call. Registering the same name again with the same credential returns the same agent, so it ' +
        'is safe to call again after a restart. capabilities are the task types/skills you can handle; claim_tasks only hands you ' +
        'tasks whose required_capabilities you all have.',
      permission: Permission.AgentsAct,
      input: z.strictObject({
        name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/).describe('Unique per credential, 1-128 letters, digits or . _ : @ -'),
        type: z.enum(['worker', 'orchestrator', 'validator']).describe('worker for an agent that does tasks'),
        capabilities: z.array(capability).max(100).describe('e.g. ["code", "python"]'),
        endpoints: jsonObject.optional(),
        resources: jsonObject.optional(),
        max_parallel_tasks: z.number().int().min(1).max(1000).optional().describe('How many tasks you may hold at once (default 1)'),
        metadata: jsonObject.optional(),
      }),
      annotations: { title: 'Register an agent', readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
      run: async ({ principal }, args) => {
        const { agent } = await agents.register(principal, await asDto(RegisterAgentDto, args));
        return { ...agent };
      },
    },
    {
      name: 'send_heartbeat',
      title: 'Send a heartbeat',
      description:
        'Tells the server the agent is alive and extends the lease of every task it is running. Call it every ' +
        '`heartbeat_interval_sec` seconds (from the response) while you work, or your tasks are handed to another agent when their ' +
        'lease expires. status "draining" stops new claims for this agent; "active" resumes them.',
      permission: Permission.AgentsAct,
      input: z.strictObject({
        agent_id: uuid('Your agent id from register_agent'),
        current_load: z.number().min(0).max(1_000_000).optional().describe('Tasks in flight or a 0..1 utilisation'),
        status: z.enum(['active', 'draining']).optional(),
      }),
      annotations: { title: 'Send a heartbeat', readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
      run: async ({ principal }, args) => {
        const [id, body] = splitArgs(args, 'agent_id');
        return { ...(await agents.heartbeat(principal, pathId(id, 'agent_id'), await asDto(HeartbeatDto, body))) };
      },
    },
    {
      name: 'list_agents',
      title: 'List agents',
      description: 'Lists registered agents, newest first, optionally filtered by capability, status or type. Read-only.',
      permission: Permission.AgentsRead,
      input: z.strictObject({
        ...pageArgs,
        capability: z.string().max(128).optional(),
        status: z.enum(['active', 'draining', 'offline', 'disabled']).optional(),
        type: z.enum(['worker', 'orchestrator', 'validator']).optional(),
      }),
      annotations: { title: 'List agents', readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
      run: async (_context, args) => ({ ...(await agents.list(await asDto(ListAgentsQueryDto, args, 'query'))) }),
    },
  ];
}
