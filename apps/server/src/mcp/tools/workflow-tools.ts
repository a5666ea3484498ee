import { z } from 'zod';
import { Permission } from '../../access/permissions';
import { ExecutePipelineDto, ListPipelinesQueryDto } from '../../pipelines/dto/pipeline.dto';
import type { PipelinesService } from '../../pipelines/pipelines.service';
import { CreateWorkflowDto, MAX_WORKFLOW_TASKS } from '../../workflows/dto/workflow.dto';
import type { WorkflowsService } from '../../workflows/workflows.service';
import { pageArgs } from './agent-tools';
import { asDto, type McpTool,pathId, splitArgs, uuid } from './tool';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/;
const capabilities = z.array(z.string().regex(NAME)).min(1).max(50);

export function workflowTools(workflows: WorkflowsService): McpTool[] {
  return [
    {
      name: 'create_workflow',
      title: 'Create a workflow',
      description:
        'Creates a workflow: a graph of tasks (each with a key; depends_on names other keys) that run as their dependencies ' +
        'complete. Instead of tasks, give plan to have a planner agent produce the graph. With audit, an auditor agent reviews ' +
        'the finished work (prompt review-workflow) and may send tasks back for rework up to max_rework_cycles times. A cycle ' +
        'or an unknown key is refused (dependency_cycle / unknown_dependency). Not idempotent: calling it twice creates two.',
      permission: Permission.WorkflowsWrite,
      input: z.strictObject({
        name: z.string().max(200).optional(),
        description: z.string().max(10_000).optional(),
        tasks: z
          .array(
            z.strictObject({
              key: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/),
              type: z.string().regex(NAME),
              description: z.string().max(10_000).optional(),
              payload: z.unknown().optional(),
              required_capabilities: z.array(z.string().regex(NAME)).max(50).optional(),
              depends_on: z.array(z.string().max(128)).max(100).optional().describe('Keys of tasks of this workflow'),
              file_dependencies: z.array(z.strictObject({ path: z.string(), access: z.enum(['read', 'write', 'exclusive']) })).max(100).optional(),
              priority: z.enum(['high', 'medium', 'low']).optional(),
              timeout: z.number().int().min(1).max(604_800).optional(),
              retry_count: z.number().int().min(0).max(100).optional(),
            }),
          )
          .min(1)
          .max(MAX_WORKFLOW_TASKS)
          .optional()
          .describe('The graph; omit it when plan is given'),
        audit: z.strictObject({ required_capabilities: capabilities, max_rework_cycles: z.number().int().min(0).max(20) }).optional(),
        plan: z.strictObject({ required_capabilities: capabilities }).optional(),
      }),
      annotations: { title: 'Create a workflow', readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
      run: async ({ principal }, args) => ({ ...(await workflows.create(principal, await asDto(CreateWorkflowDto, args))).workflow }),
    },
    {
      name: 'get_workflow',
      title: 'Get a workflow',
      description: 'Returns a workflow with its status, task counts, audit settings and audit reports. Read-only.',
      permission: Permission.WorkflowsRead,
      input: z.strictObject({ workflow_id: uuid('The workflow id') }),
      annotations: { title: 'Get a workflow', readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
      run: async (_context, args) => ({ ...(await workflows.get(pathId(args.workflow_id, 'workflow_id'))) }),
    },
  ];
}

export function pipelineTools(pipelines: PipelinesService): McpTool[] {
  return [
    {
      name: 'list_pipelines',
      title: 'List pipelines',
      description: 'Lists pipeline definitions (ordered stages of tasks), newest first; archived ones only with include_archived. Read-only.',
      permission: Permission.PipelinesRead,
      input: z.strictObject({ ...pageArgs, include_archived: z.boolean().optional() }),
      annotations: { title: 'List pipelines', readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
      run: async (_context, args) => ({ ...(await pipelines.list(await asDto(ListPipelinesQueryDto, args, 'query'))) }),
    },
    {
      name: 'execute_pipeline',
      title: 'Execute a pipeline',
      description:
        'Starts a run of a pipeline: its stages become tasks, each stage after the ones it depends on. Returns the run (status ' +
        'accepted); follow it with get_pipeline_run or subscribe to agentmanager://pipeline-runs/{id}. Not idempotent: each call ' +
        'starts another run.',
      permission: Permission.PipelinesExecute,
      input: z.strictObject({
        pipeline_id: uuid('The pipeline id'),
        input_data: z.unknown().optional().describe('Any JSON value; handed to every stage'),
        parameters: z.unknown().optional().describe('Any JSON value; handed to every stage'),
        notification: z.strictObject({ webhook: z.string().max(2000).optional(), email: z.string().optional() }).optional(),
      }),
      annotations: { title: 'Execute a pipeline', readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
      run: async ({ principal }, args) => {
        const [id, body] = splitArgs(args, 'pipeline_id');
        return { ...(await pipelines.execute(principal, pathId(id, 'pipeline_id'), await asDto(ExecutePipelineDto, body))).body };
      },
    },
    {
      name: 'get_pipeline_run',
      title: 'Get a pipeline run',
      description: 'Returns a pipeline run with its status and the state of each stage. Read-only.',
      permission: Permission.PipelinesRead,
      input: z.strictObject({ run_id: uuid('The run id from execute_pipeline') }),
      annotations: { title: 'Get a pipeline run', readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
      run: async (_context, args) => ({ ...(await pipelines.getRun(pathId(args.run_id, 'run_id'))) }),
    },
  ];
}
