import { z } from 'zod';
import { Permission } from '../../access/permissions';
import type { ClaimTasksUseCase } from '../../tasks/claim-tasks.use-case';
import { ClaimTasksDto, CompleteDto, CreateTaskDto, FailDto, ListTasksQueryDto, ProgressDto } from '../../tasks/dto/task.dto';
import type { TasksService } from '../../tasks/tasks.service';
import { pageArgs } from './agent-tools';
import { asDto, type McpTool,pathId, splitArgs, uuid } from './tool';

const FENCING =
  'Pass back the agent_id and the `attempt` number the task had when claim_tasks gave it to you (the fencing token). If the ' +
  'result is an error with code stale_attempt, your claim has ended (the lease expired, or the task was cancelled or handed to ' +
  'another agent): stop working on the task and do not report on it again.';

const fenced = {
  task_id: uuid('The task id from claim_tasks'),
  agent_id: uuid('Your agent id from register_agent'),
  attempt: z.number().int().min(1).describe('The attempt number the task was claimed with (fencing token)'),
};

const lockAccess = z.enum(['read', 'write', 'exclusive']);
const TASK_STATUSES = ['pending', 'ready', 'running', 'completed', 'retrying', 'failed', 'cancelled'] as const;

export function taskTools(tasks: TasksService, claimTasks: ClaimTasksUseCase): McpTool[] {
  return [
    {
      name: 'claim_tasks',
      title: 'Claim tasks',
      description:
        'Claims up to max_tasks ready tasks whose required_capabilities your agent has, and leases them to you. Each returned task ' +
        'carries `attempt`: keep it, you must pass it to report_progress, complete_task and fail_task. The task file_dependencies ' +
        'are already locked for you. An empty list means nothing is ready: call again (use wait_seconds up to 30 to long-poll ' +
        'instead of polling fast). Keep the lease alive with send_heartbeat while you work.',
      permission: Permission.AgentsAct,
      input: z.strictObject({
        agent_id: uuid('Your agent id from register_agent'),
        max_tasks: z.number().int().min(1).max(100).optional().describe('Default 1'),
        wait_seconds: z.number().min(0).max(30).optional().describe('Long-poll: wait up to this long for a task (default 0)'),
      }),
      annotations: { title: 'Claim tasks', readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
      run: async ({ principal, signal }, args) => ({ tasks: await claimTasks.execute(principal, await asDto(ClaimTasksDto, args), signal) }),
    },
    {
      name: 'report_progress',
      title: 'Report progress',
      description: `Reports how far a claimed task is (0..1), with an optional message and log lines; also renews its lease. ${FENCING}`,
      permission: Permission.AgentsAct,
      input: z.strictObject({
        ...fenced,
        progress: z.number().min(0).max(1).describe('Fraction done, 0..1'),
        message: z.string().max(10_000).optional(),
        logs: z
          .array(z.strictObject({ level: z.enum(['debug', 'info', 'warn', 'error']), message: z.string().max(10_000) }))
          .max(100)
          .optional(),
      }),
      annotations: { title: 'Report progress', readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
      run: async ({ principal }, args) => {
        const [id, body] = splitArgs(args, 'task_id');
        return { ...(await tasks.progress(principal, pathId(id, 'task_id'), await asDto(ProgressDto, body))) };
      },
    },
    {
      name: 'complete_task',
      title: 'Complete a task',
      description:
        'Marks a claimed task completed with its result (any JSON) and optionally the Reason-Act history of the run; releases the ' +
        `task's file locks and unblocks dependent tasks. Call it once, when the work is done. ${FENCING}`,
      permission: Permission.AgentsAct,
      input: z.strictObject({
        ...fenced,
        result: z.unknown().optional().describe('Any JSON value: what the task produced'),
        ra_history: z
          .strictObject({
            iterations: z
              .array(
                z.strictObject({
                  thought: z.string().max(100_000).optional(),
                  action: z.unknown().optional(),
                  observation: z.unknown().optional(),
                  timestamp: z.string().max(64).optional(),
                }),
              )
              .max(1000),
            final_result: z.unknown().optional(),
          })
          .optional(),
        execution_time: z.number().min(0).optional().describe('Seconds you spent'),
      }),
      annotations: { title: 'Complete a task', readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
      run: async ({ principal }, args) => {
        const [id, body] = splitArgs(args, 'task_id');
        return { ...(await tasks.complete(principal, pathId(id, 'task_id'), await asDto(CompleteDto, body))) };
      },
    },
    {
      name: 'fail_task',
      title: 'Fail a task',
      description:
        'Reports that a claimed task failed. With retryable true (the default) and attempts left, the task is retried later, ' +
        'possibly by another agent; with retryable false it fails for good. Releases its file locks either way. Use it when you ' +
        `cannot finish, rather than going silent. ${FENCING}`,
      permission: Permission.AgentsAct,
      input: z.strictObject({
        ...fenced,
        error: z.strictObject({ code: z.string().max(128), message: z.string().max(10_000), details: z.unknown().optional() }),
        retryable: z.boolean().optional().describe('Default true'),
      }),
      annotations: { title: 'Fail a task', readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
      run: async ({ principal }, args) => {
        const [id, body] = splitArgs(args, 'task_id');
        return { ...(await tasks.fail(principal, pathId(id, 'task_id'), await asDto(FailDto, body))) };
      },
    },
    {
      name: 'create_task',
      title: 'Create a task',
      description:
        'Submits a new task for some agent to claim. required_capabilities defaults to [type]; depends_on lists task ids that ' +
        'must complete first; file_dependencies are locked for the worker when it claims the task. Not idempotent: calling it ' +
        'twice creates two tasks.',
      permission: Permission.TasksWrite,
      input: z.strictObject({
        type: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/).describe('e.g. code_review'),
        payload: z.unknown().optional().describe('Any JSON value handed to the worker'),
        priority: z.enum(['high', 'medium', 'low']).optional(),
        required_capabilities: z.array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/)).max(50).optional(),
        timeout: z.number().int().min(1).max(604_800).optional().describe('Seconds one attempt may run (default 300)'),
        retry_count: z.number().int().min(0).max(100).optional().describe('Retries after the first attempt (default 3)'),
        pipeline_id: z.guid().optional(),
        stage: z.string().max(128).optional(),
        depends_on: z.array(z.guid()).max(100).optional(),
        file_dependencies: z.array(z.strictObject({ path: z.string(), access: lockAccess })).max(100).optional(),
        run_at: z.string().optional().describe('ISO-8601; not claimable before then'),
        metadata: z.record(z.string(), z.unknown()).optional(),
      }),
      annotations: { title: 'Create a task', readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
      run: async ({ principal }, args) => ({ ...(await tasks.create(principal, await asDto(CreateTaskDto, args))).task }),
    },
    {
      name: 'get_task',
      title: 'Get a task',
      description: 'Returns one task with its status, attempt, progress, result or error, and its logs. Read-only.',
      permission: Permission.TasksRead,
      input: z.strictObject({ task_id: uuid('The task id') }),
      annotations: { title: 'Get a task', readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
      run: async (_context, args) => ({ ...(await tasks.get(pathId(args.task_id, 'task_id'))) }),
    },
    {
      name: 'list_tasks',
      title: 'List tasks',
      description: 'Lists tasks, newest first, filtered by status, type, pipeline, run, workflow or assigned agent. Read-only.',
      permission: Permission.TasksRead,
      input: z.strictObject({
        ...pageArgs,
        status: z.enum(TASK_STATUSES).optional(),
        type: z.string().max(128).optional(),
        pipeline_id: z.guid().optional(),
        run_id: z.guid().optional(),
        workflow_id: z.guid().optional(),
        agent_id: z.guid().optional(),
      }),
      annotations: { title: 'List tasks', readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
      run: async (_context, args) => ({ ...(await tasks.list(await asDto(ListTasksQueryDto, args, 'query'))) }),
    },
  ];
}
