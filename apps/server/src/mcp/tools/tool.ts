import type { ToolAnnotations } from '@modelcontextprotocol/sdk/types.js';
import type { ArgumentMetadata, Type } from '@nestjs/common';
import { z } from 'zod';
import { grants, type Permission } from '../../access/permissions';
import type { Principal } from '../../access/principal';
import { type FieldError,forbidden, validationFailed } from '../../common/errors';
import { createValidationPipe } from '../../common/validation';

/** What a tool handler gets besides its arguments. */
export interface ToolContext {
  principal: Principal;
  /** Fires when the MCP request is cancelled or the HTTP client goes away (long polls stop). */
  signal: AbortSignal;
}

/**
 * One MCP tool: a thin adapter over the service method its REST twin calls. `input` is the JSON
 * Schema advertised in tools/list (and a first gate); the REST DTO is then run through the very
 * ValidationPipe REST uses, so both surfaces accept and refuse exactly the same bodies.
 */
export interface McpTool {
  name: string;
  title: string;
  description: string;
  /** The permission of the REST twin's @RequirePermission. */
  permission: Permission;
  input: z.ZodObject;
  annotations: ToolAnnotations;
  run(context: ToolContext, args: Record<string, unknown>): Promise<Record<string, unknown>>;
}

export const uuid = (description: string) => z.guid().describe(description);

const pipe = createValidationPipe();

/** Runs `plain` through REST's ValidationPipe as `metatype` (whitelist, forbid unknown fields, transform). */
export async function asDto<T>(metatype: Type<T>, plain: Record<string, unknown>, type: ArgumentMetadata['type'] = 'body'): Promise<T> {
  return (await pipe.transform(plain, { type, metatype, data: undefined })) as T;
}

/** The same check (and message) as REST's `@UuidParam()` on a path parameter. */
export function pathId(value: unknown, name: string): string {
  if (typeof value === 'string' && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value)) return value;
  throw validationFailed([{ field: name, errors: [`${name} must be a UUID`] }]);
}

/** Splits tool arguments into the path parameter and the body the REST twin would get. */
export function splitArgs(args: Record<string, unknown>, key: string): [unknown, Record<string, unknown>] {
  const { [key]: id, ...rest } = args;
  return [id, rest];
}

/** The advertised schema as a gate: failures become `validation_failed` with one entry per field. */
export function checkSchema(tool: McpTool, args: unknown): Record<string, unknown> {
  const parsed = tool.input.safeParse(args ?? {});
  if (parsed.success) return args && typeof args === 'object' ? (args as Record<string, unknown>) : {};
  const fields = new Map<string, string[]>();
  for (const issue of parsed.error.issues) {
    const keys = issue.code === 'unrecognized_keys' ? issue.keys.map((k) => [...issue.path, k]) : [issue.path];
    for (const path of keys) {
      const field = path.map(String).join('.') || '(arguments)';
      const message = issue.code === 'unrecognized_keys' ? `property ${field} should not exist` : issue.message;
      fields.set(field, [...(fields.get(field) ?? []), message]);
    }
  }
  const list: FieldError[] = [...fields].map(([field, errors]) => ({ field, errors }));
  throw validationFailed(list, `The arguments of ${tool.name} do not match its input schema`);
}

/** The same rule as the REST guard: the caller must hold the twin's permission. */
export function checkPermission(tool: McpTool, principal: Principal): void {
  if (!grants(principal.permissions, tool.permission)) throw forbidden(`This needs the ${tool.permission} permission`);
}

/** The JSON Schema of a tool's arguments, as tools/list advertises it. */
export function inputJsonSchema(tool: McpTool): { type: 'object'; [key: string]: unknown } {
  const { $schema: _ignored, ...schema } = z.toJSONSchema(tool.input, { io: 'input' }) as Record<string, unknown>;
  return { ...schema, type: 'object' };
}
