import { z } from 'zod';
import { Permission } from '../access/permissions';
import { DomainError } from '../common/errors';
import { PROMPTS } from './mcp-prompts';
import { parseResourceUri, PIPELINE_RUN_RESOURCE, RESOURCE_KINDS, resourceUri, uriOfEvent, WORKFLOW_RESOURCE } from './mcp-resources';
import { checkSchema, inputJsonSchema, type McpTool,pathId } from './tools/tool';

const ID = '0b6f3f5e-4c1d-4e7a-9a3b-2f1e0d9c8b7a';

describe('MCP resource URIs', () => {
  it('parses known kinds and normalises the id', () => {
    expect(parseResourceUri(`agentmanager://tasks/${ID.toUpperCase()}`)).toEqual({ kind: RESOURCE_KINDS[0], id: ID });
    expect(resourceUri('agents', ID)).toBe(`agentmanager://agents/${ID}`);
  });

  it('refuses unknown kinds, bad ids and kinds the app does not serve', () => {
    expect(parseResourceUri(`agentmanager://users/${ID}`)).toBeNull();
    expect(parseResourceUri('agentmanager://tasks/42')).toBeNull();
    expect(parseResourceUri(`agentmanager://workflows/${ID}`)).toBeNull();
    expect(parseResourceUri(`agentmanager://workflows/${ID}`, [...RESOURCE_KINDS, WORKFLOW_RESOURCE])?.kind.permission).toBe(Permission.WorkflowsRead);
  });

  it('maps each event type to the resource it changes', () => {
    expect(uriOfEvent({ type: 'task_update', payload: { task_id: ID } })).toBe(`agentmanager://tasks/${ID}`);
    expect(uriOfEvent({ type: 'agent_update', payload: { agent_id: ID } })).toBe(`agentmanager://agents/${ID}`);
    expect(uriOfEvent({ type: 'workflow_update', payload: { workflow_id: ID } })).toBe(`agentmanager://workflows/${ID}`);
    expect(uriOfEvent({ type: 'pipeline_progress', payload: { run_id: ID, pipeline_id: 'x' } })).toBe(`agentmanager://${PIPELINE_RUN_RESOURCE.kind}/${ID}`);
    expect(uriOfEvent({ type: 'lock_update', payload: { lock_id: ID } })).toBeNull();
  });
});

describe('MCP tool argument checks', () => {
  const tool = {
    name: 'demo_tool',
    input: z.strictObject({ task_id: z.guid(), attempt: z.number().int().min(1) }),
  } as unknown as McpTool;

  it('turns schema failures into validation_failed with one entry per field, unknown keys included', () => {
    let error: unknown;
    try {
      checkSchema(tool, { task_id: 'x', attempt: 0, colour: 'red' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(DomainError);
    const fields = ((error as DomainError).details.fields as { field: string }[]).map((f) => f.field).sort();
    expect(fields).toEqual(['attempt', 'colour', 'task_id']);
    expect(checkSchema(tool, { task_id: ID, attempt: 1 })).toEqual({ task_id: ID, attempt: 1 });
  });

  it('advertises a closed object schema without $schema', () => {
    expect(inputJsonSchema(tool)).toMatchObject({ type: 'object', required: ['task_id', 'attempt'], additionalProperties: false });
    expect(inputJsonSchema(tool)).not.toHaveProperty('$schema');
  });

  it('checks ids like the REST path parameter', () => {
    expect(pathId(ID, 'task_id')).toBe(ID);
    expect(() => pathId('nope', 'task_id')).toThrow(DomainError);
  });
});

describe('MCP prompts', () => {
  it('names every worker-loop tool in work-on-next-task', () => {
    const text = PROMPTS[0].render({ agent_name: 'w1', capabilities: 'a, b' });
    for (const tool of ['register_agent', 'claim_tasks', 'acquire_file_lock', 'report_progress', 'complete_task', 'fail_task']) expect(text).toContain(tool);
    expect(text).toContain('["a","b"]');
  });
});
